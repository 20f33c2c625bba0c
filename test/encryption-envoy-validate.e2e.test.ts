/**
 * The real Envoy (build/bin/envoy, 1.40.0) accepts the tunnel's whole
 * configuration as the controller makes it for two nodes (withEncryption over
 * their policies, then encryptionResources): the outbound listener, the
 * inbound listener, the tunnel, delivery and SDS clusters, under `envoy --mode validate` (the inbound routes come over ADS,
 * which validation does not connect to). Serving it and carrying flows is the
 * kernel test's part (encryption.privileged.test.ts); this one runs as any user.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { DEFAULT_ENVOY_BINARY } from "../src/envoy/binary.ts";
import type { NodePolicy, PolicyEntry } from "../src/model/endpoint-policy.ts";
import { withEncryption } from "../src/policy/encryption.ts";
import { encryptionResources } from "../src/xds/translate/encryption.ts";

const CLIENT = 1001;
const SERVER = 1002;
const OTHER = 1003;
const dir = mkdtempSync(join(tmpdir(), "strait-encrypt-validate-"));

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

const ipcache = [
  { prefix: "10.0.1.2/32", identity: CLIENT, node: "192.0.2.1" },
  { prefix: "10.0.1.3/32", identity: OTHER, node: "192.0.2.1" },
  { prefix: "10.0.2.2/32", identity: SERVER, node: "192.0.2.2" },
  { prefix: "10.0.2.3/32", identity: SERVER, node: "192.0.2.2" },
];

const nodes: NodePolicy[] = [
  {
    node: "node-a",
    endpoints: [
      { id: 1, identity: CLIENT, addresses: ["10.0.1.2"], hostInterface: "", sources: [] },
      { id: 2, identity: OTHER, addresses: ["10.0.1.3"], hostInterface: "", sources: [] },
    ],
    policies: [],
    l7: [],
    ipcache: ipcache.map((c) => (c.node === "192.0.2.1" ? { prefix: c.prefix, identity: c.identity } : c)),
    identities: [],
  },
  {
    node: "node-b",
    endpoints: [
      { id: 1, identity: SERVER, addresses: ["10.0.2.2"], hostInterface: "", sources: [] },
      { id: 2, identity: SERVER, addresses: ["10.0.2.3"], hostInterface: "", sources: [] },
    ],
    policies: [1, 2].map((endpointId) => ({
      endpointId,
      ingressEnforced: true,
      egressEnforced: false,
      // The client on one port, the other identity on every port: an exact and an any-port pair.
      entries: [entry({}), entry({ remoteIdentity: OTHER, port: "any" })],
      sources: [],
    })),
    l7: [],
    ipcache: ipcache.map((c) => (c.node === "192.0.2.2" ? { prefix: c.prefix, identity: c.identity } : c)),
    identities: [],
  },
];

describe("the node's Envoy accepts the encrypted tunnel's configuration", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it.each(withEncryption(nodes, { tunnelPort: 15008, trustDomain: "strait.local" }).map((n) => [n.node, n]))(
    "%s",
    (name, node) => {
      const r = encryptionResources(node as NodePolicy, { sdsDir: join(dir, "sds") });
      expect(r.listeners.size).toBe(1);
      const file = join(dir, `${name}.json`);
      writeFileSync(
        file,
        JSON.stringify({
          node: { id: `validate-${name}`, cluster: "strait" },
          dynamic_resources: {
            ads_config: {
              api_type: "DELTA_GRPC",
              transport_api_version: "V3",
              grpc_services: [{ envoy_grpc: { cluster_name: "strait-xds" } }],
            },
          },
          static_resources: {
            listeners: [...r.listeners.values()],
            clusters: [
              ...r.clusters.values(),
              {
                name: "strait-xds",
                type: "STATIC",
                typed_extension_protocol_options: {
                  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
                    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
                    explicit_http_config: { http2_protocol_options: {} },
                  },
                },
                load_assignment: {
                  cluster_name: "strait-xds",
                  endpoints: [
                    {
                      lb_endpoints: [
                        {
                          endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 1 } } },
                        },
                      ],
                    },
                  ],
                },
              },
            ],
          },
        }),
      );
      const run = spawnSync(
        DEFAULT_ENVOY_BINARY,
        ["--mode", "validate", "-c", file, "--disable-hot-restart"],
        {
          encoding: "utf8",
          timeout: 60_000,
        },
      );
      expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
    },
    120_000,
  );
});
