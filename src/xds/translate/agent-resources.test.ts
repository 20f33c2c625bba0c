import { describe, expect, it } from "vitest";
import { DEFAULT_TUNNEL_PORT, ENCRYPT_PROXY_PORT, type EncryptEntry } from "../../model/encryption.ts";
import type { NodePolicy } from "../../model/endpoint-policy.ts";
import type { MeshService } from "../../model/mesh-service.ts";
import { STRAIT_TYPE_URLS } from "../proto/envoy-protos.ts";
import { decodeResource, encodeResourceOrThrow, validateResource } from "../proto/index.ts";
import { agentResources, agentStateFrom, meshServiceResources } from "./agent-resources.ts";

const WEB: MeshService = {
  service: "apps/web",
  address: "10.96.0.10",
  port: 80,
  protocol: "TCP",
  proxyPort: 15003,
};

describe("mesh services as agent resources", () => {
  it("round-trips through the agent's state, named address:port", () => {
    const other: MeshService = { ...WEB, service: "apps/api", address: "10.96.0.9", port: 8080 };
    const set = meshServiceResources([WEB, other]);
    const byName = set[STRAIT_TYPE_URLS.meshService];
    expect([...(byName?.keys() ?? [])].sort()).toEqual(["10.96.0.10:80", "10.96.0.9:8080"]);
    const state = agentStateFrom(
      new Map([
        [STRAIT_TYPE_URLS.meshService, byName as ReadonlyMap<string, Readonly<Record<string, unknown>>>],
      ]),
    );
    expect(state.meshServices).toEqual([WEB, other]);
  });

  it("encodes strictly: a port out of range is refused by the proto's rules", () => {
    const bad = meshServiceResources([{ ...WEB, port: 0 }])[STRAIT_TYPE_URLS.meshService]?.get(
      "10.96.0.10:0",
    );
    expect(validateResource(STRAIT_TYPE_URLS.meshService, bad).map((i) => i.path)).toContain("port");
    const good = meshServiceResources([WEB])[STRAIT_TYPE_URLS.meshService]?.get("10.96.0.10:80");
    const bytes = encodeResourceOrThrow(STRAIT_TYPE_URLS.meshService, good, "10.96.0.10:80");
    expect(decodeResource(STRAIT_TYPE_URLS.meshService, bytes)).toEqual(good);
  });
});

describe("encryption as agent resources", () => {
  const flow = (remoteIdentity: number, port: number | "any", localIdentity = 1001): EncryptEntry => ({
    localIdentity,
    remoteIdentity,
    protocol: "TCP",
    port,
    proxyPort: ENCRYPT_PROXY_PORT,
  });
  const node = (outbound: readonly EncryptEntry[] | undefined): NodePolicy => ({
    node: "node-a",
    endpoints: [],
    policies: [],
    l7: [],
    ipcache: [],
    identities: [],
    ...(outbound === undefined
      ? {}
      : {
          encryption: {
            outbound,
            inbound: [],
            tunnelPort: DEFAULT_TUNNEL_PORT,
            trustDomain: "cluster.local",
          },
        }),
  });
  const decoded = (set: ReturnType<typeof agentResources>) =>
    agentStateFrom(
      new Map([
        [
          STRAIT_TYPE_URLS.encryptPolicy,
          set[STRAIT_TYPE_URLS.encryptPolicy] as ReadonlyMap<string, Readonly<Record<string, unknown>>>,
        ],
      ]),
    );

  it("is one EncryptPolicy per local identity, named by its number, and round-trips through the agent's state", () => {
    const outbound = [flow(1003, "any"), flow(1002, 8080), flow(1002, 80, 1005)];
    const set = agentResources(node(outbound), { trustDomain: "cluster.local" });
    const byName = set[STRAIT_TYPE_URLS.encryptPolicy];
    expect([...(byName?.keys() ?? [])]).toEqual(["1001", "1005"]);
    expect(byName?.get("1001")).toEqual({
      local_identity: 1001,
      entries: [
        { remote_identity: 1003, protocol: "TCP", proxy_port: 15004 },
        { remote_identity: 1002, protocol: "TCP", port: 8080, proxy_port: 15004 },
      ],
    });
    for (const [name, json] of byName ?? []) {
      expect(validateResource(STRAIT_TYPE_URLS.encryptPolicy, json)).toEqual([]);
      const bytes = encodeResourceOrThrow(STRAIT_TYPE_URLS.encryptPolicy, json, name);
      expect(decodeResource(STRAIT_TYPE_URLS.encryptPolicy, bytes)).toEqual(json);
    }
    expect(decoded(set).encrypt).toEqual([flow(1002, 8080), flow(1003, "any"), flow(1002, 80, 1005)]);
  });

  it("is an empty type without encryption (the agent waits for every type before its first state)", () => {
    for (const outbound of [undefined, []]) {
      const set = agentResources(node(outbound), { trustDomain: "cluster.local" });
      expect(set[STRAIT_TYPE_URLS.encryptPolicy]?.size).toBe(0);
      expect(decoded(set).encrypt).toEqual([]);
    }
  });

  it("decodes the mtls-spiffe-encrypted auth type of a policy entry", () => {
    const set = agentResources(
      {
        ...node(undefined),
        endpoints: [{ id: 1, identity: 1001, addresses: ["10.0.0.1"], hostInterface: "", sources: [] }],
        policies: [
          {
            endpointId: 1,
            ingressEnforced: true,
            egressEnforced: false,
            sources: [],
            entries: [
              {
                direction: "ingress",
                remoteIdentity: 1002,
                protocol: "TCP",
                port: 80,
                verdict: "allow",
                auth: "mtls-spiffe-encrypted",
                sources: [],
              },
            ],
          },
        ],
      },
      { trustDomain: "cluster.local" },
    );
    const state = agentStateFrom(
      new Map([
        [
          STRAIT_TYPE_URLS.endpointPolicy,
          set[STRAIT_TYPE_URLS.endpointPolicy] as ReadonlyMap<string, Readonly<Record<string, unknown>>>,
        ],
      ]),
    );
    expect(state.policies[0]?.entries[0]?.auth).toBe("mtls-spiffe-encrypted");
  });
});
