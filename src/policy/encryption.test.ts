import { describe, expect, it } from "vitest";
import type { NodePolicy, PolicyEntry } from "../model/endpoint-policy.ts";
import { withEncryption } from "./encryption.ts";

const CLIENT = 1001;
const SERVER = 1002;
const NEIGHBOUR = 1003;

function entry(over: Partial<PolicyEntry>): PolicyEntry {
  return {
    direction: "ingress",
    remoteIdentity: CLIENT,
    protocol: "TCP",
    port: 7070,
    verdict: "allow",
    auth: "mtls-spiffe",
    sources: [],
    ...over,
  };
}

function node(name: string, endpoints: [number, number, string][], entries: PolicyEntry[] = []): NodePolicy {
  return {
    node: name,
    endpoints: endpoints.map(([id, identity, address]) => ({
      id,
      identity,
      addresses: [address],
      hostInterface: "",
      sources: [],
    })),
    policies:
      entries.length === 0
        ? []
        : [
            {
              endpointId: endpoints[0]?.[0] ?? 1,
              ingressEnforced: true,
              egressEnforced: true,
              entries,
              sources: [],
            },
          ],
    l7: [],
    ipcache: [],
    identities: [],
  };
}

const OPTIONS = { tunnelPort: 15008, trustDomain: "strait.local" };

describe("withEncryption", () => {
  it("encrypts a destination's auth-required TCP port from the source's node, and accepts it on the destination's", () => {
    const [a, b] = withEncryption(
      [node("a", [[1, CLIENT, "10.0.1.2"]]), node("b", [[1, SERVER, "10.0.2.2"]], [entry({})])],
      OPTIONS,
    );
    expect(a?.encryption).toEqual({
      outbound: [
        { localIdentity: CLIENT, remoteIdentity: SERVER, protocol: "TCP", port: 7070, proxyPort: 15004 },
      ],
      inbound: [],
      ...OPTIONS,
    });
    expect(b?.encryption?.inbound).toEqual([{ localIdentity: SERVER, remoteIdentity: CLIENT, port: 7070 }]);
    expect(b?.encryption?.outbound).toEqual([]);
    expect(b?.policies[0]?.entries[0]?.auth).toBe("mtls-spiffe-encrypted");
  });

  it("takes a source's egress entry as well, and a port range as every port", () => {
    const [a, b] = withEncryption(
      [
        node(
          "a",
          [[1, CLIENT, "10.0.1.2"]],
          [entry({ direction: "egress", remoteIdentity: SERVER, port: 9000, endPort: 9100 })],
        ),
        node("b", [[1, SERVER, "10.0.2.2"]]),
      ],
      OPTIONS,
    );
    expect(a?.encryption?.outbound.map((e) => [e.localIdentity, e.remoteIdentity, e.port])).toEqual([
      [CLIENT, SERVER, "any"],
    ]);
    expect(b?.encryption?.inbound).toEqual([{ localIdentity: SERVER, remoteIdentity: CLIENT, port: "any" }]);
  });

  it("expands an auth-required rule for every peer to the workload identities, reserved ones left out", () => {
    const [a, , c] = withEncryption(
      [
        node("a", [[1, CLIENT, "10.0.1.2"]]),
        node("b", [[1, SERVER, "10.0.2.2"]], [entry({ remoteIdentity: "any" })]),
        node("c", [[1, NEIGHBOUR, "10.0.3.2"]]),
      ],
      OPTIONS,
    );
    expect(a?.encryption?.outbound.map((e) => e.remoteIdentity)).toEqual([SERVER]);
    expect(c?.encryption?.outbound.map((e) => e.localIdentity)).toEqual([NEIGHBOUR]);
  });

  it("leaves UDP, L7 ports, denials and unauthenticated entries as they were", () => {
    const entries = [
      entry({ protocol: "UDP" }),
      entry({ port: 80, proxyPort: 15001 }),
      entry({ verdict: "deny", port: 81 }),
      entry({ port: 82, auth: "none" }),
    ];
    const [a, b] = withEncryption(
      [node("a", [[1, CLIENT, "10.0.1.2"]]), node("b", [[1, SERVER, "10.0.2.2"]], entries)],
      OPTIONS,
    );
    expect(a?.encryption?.outbound).toEqual([]);
    expect(b?.policies[0]?.entries).toEqual(entries);
  });

  it("leaves a pair authenticated only when its source has L7 egress rules on the port (the tunnel would bypass them)", () => {
    const a = node("a", [[1, CLIENT, "10.0.1.2"]]);
    const withL7 = {
      ...a,
      l7: [
        { endpointId: 1, direction: "egress" as const, port: 7070, proxyPort: 15002, rules: [], sources: [] },
      ],
    };
    const [outA, outB] = withEncryption([withL7, node("b", [[1, SERVER, "10.0.2.2"]], [entry({})])], OPTIONS);
    expect(outA?.encryption?.outbound).toEqual([]);
    expect(outB?.encryption?.inbound).toEqual([]);
    expect(outB?.policies[0]?.entries[0]?.auth).toBe("mtls-spiffe");
    // Another port of the same pair is still encrypted.
    const [, other] = withEncryption(
      [withL7, node("b", [[1, SERVER, "10.0.2.2"]], [entry({ port: 8080 })])],
      OPTIONS,
    );
    expect(other?.policies[0]?.entries[0]?.auth).toBe("mtls-spiffe-encrypted");
  });

  it("needs no tunnel between pods of one node", () => {
    const [b] = withEncryption(
      [
        node(
          "b",
          [
            [1, SERVER, "10.0.2.2"],
            [2, CLIENT, "10.0.2.3"],
          ],
          [entry({})],
        ),
      ],
      OPTIONS,
    );
    expect(b?.encryption?.outbound).toEqual([]);
    expect(b?.encryption?.inbound).toEqual([]);
    // Still rewritten: were a client to appear on another node, plain text from there is refused.
    expect(b?.policies[0]?.entries[0]?.auth).toBe("mtls-spiffe-encrypted");
  });
});
