import { describe, expect, it } from "vitest";
import type { NodePolicy } from "../../model/endpoint-policy.ts";
import { encodeResource, TYPE_URLS } from "../proto/index.ts";
import { ENCRYPT_INBOUND_LISTENER, ENCRYPT_OUTBOUND_LISTENER, encryptionResources } from "./encryption.ts";

const CLIENT = 1001;
const SERVER = 1002;
const OTHER = 1003;

function node(over: Partial<NodePolicy>): NodePolicy {
  return { node: "node-a", endpoints: [], policies: [], l7: [], ipcache: [], identities: [], ...over };
}

const A = node({
  endpoints: [{ id: 1, identity: CLIENT, addresses: ["10.0.1.2"], hostInterface: "", sources: [] }],
  ipcache: [
    { prefix: "10.0.1.2/32", identity: CLIENT },
    { prefix: "10.0.2.2/32", identity: SERVER, node: "192.0.2.2" },
    { prefix: "10.0.3.2/32", identity: SERVER, node: "192.0.2.3" },
  ],
  encryption: {
    outbound: [
      { localIdentity: CLIENT, remoteIdentity: SERVER, protocol: "TCP", port: 7070, proxyPort: 15004 },
    ],
    inbound: [],
    tunnelPort: 15008,
    trustDomain: "strait.local",
  },
});

const B = node({
  node: "node-b",
  endpoints: [{ id: 1, identity: SERVER, addresses: ["10.0.2.2"], hostInterface: "", sources: [] }],
  encryption: {
    outbound: [],
    inbound: [
      { localIdentity: SERVER, remoteIdentity: CLIENT, port: 7070 },
      { localIdentity: SERVER, remoteIdentity: OTHER, port: "any" },
    ],
    tunnelPort: 15008,
    trustDomain: "strait.local",
  },
});

const j = (v: unknown) => JSON.parse(JSON.stringify(v));

describe("encryptionResources", () => {
  it("gives the source node one chain and one tunnel cluster per destination node", () => {
    const r = encryptionResources(A, { sdsDir: "/run/sds" });
    const listener = j(r.listeners.get(ENCRYPT_OUTBOUND_LISTENER));
    expect(listener.address.socket_address).toEqual({ address: "127.0.0.1", port_value: 15004 });
    expect(listener.transparent).toBe(true);
    // The original destination, not the client's address: the tunnel leaves from the node.
    expect(listener.listener_filters.map((f: { name: string }) => f.name)).toEqual([
      "envoy.filters.listener.original_dst",
    ]);
    expect(listener.filter_chains.map((c: { filter_chain_match: unknown }) => c.filter_chain_match)).toEqual([
      {
        destination_port: 7070,
        prefix_ranges: [{ address_prefix: "10.0.2.2", prefix_len: 32 }],
        source_prefix_ranges: [{ address_prefix: "10.0.1.2", prefix_len: 32 }],
      },
      {
        destination_port: 7070,
        prefix_ranges: [{ address_prefix: "10.0.3.2", prefix_len: 32 }],
        source_prefix_ranges: [{ address_prefix: "10.0.1.2", prefix_len: 32 }],
      },
    ]);
    const cluster = j(r.clusters.get("strait/encrypt/to/192.0.2.2/1001/1002"));
    expect(cluster.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).toEqual({
      address: "192.0.2.2",
      port_value: 15008,
    });
    const tls = cluster.transport_socket.typed_config;
    expect(tls.sni).toBe("1002.strait.local");
    expect(tls.common_tls_context.tls_certificate_sds_secret_configs[0]).toMatchObject({
      name: "spiffe://strait.local/identity/1001",
      sds_config: {
        api_config_source: { grpc_services: [{ envoy_grpc: { cluster_name: "strait-agent-sds" } }] },
      },
    });
    // The agent's SDS socket of this node.
    expect(
      j(r.clusters.get("strait-agent-sds")).load_assignment.endpoints[0].lb_endpoints[0].endpoint.address,
    ).toEqual({ pipe: { path: "/run/sds/node-a.sock" } });
    expect(
      tls.common_tls_context.combined_validation_context.default_validation_context
        .match_typed_subject_alt_names,
    ).toEqual([{ san_type: "URI", matcher: { exact: "spiffe://strait.local/identity/1002" } }]);
    expect(r.clusters.has("strait/encrypt/to/192.0.2.3/1001/1002")).toBe(true);
  });

  it("gives the destination node a chain per local identity, by SNI, and a route and a marked cluster per source", () => {
    const r = encryptionResources(B, { sdsDir: "/run/sds" });
    const listener = j(r.listeners.get(ENCRYPT_INBOUND_LISTENER));
    expect(listener.address.socket_address).toEqual({ address: "0.0.0.0", port_value: 15008 });
    const [chain] = listener.filter_chains;
    expect(chain.filter_chain_match).toEqual({ server_names: ["1002.strait.local"] });
    const tls = chain.transport_socket.typed_config;
    expect(tls.require_client_certificate).toBe(true);
    expect(
      tls.common_tls_context.combined_validation_context.default_validation_context.match_typed_subject_alt_names.map(
        (m: { matcher: { exact: string } }) => m.matcher.exact,
      ),
    ).toEqual(["spiffe://strait.local/identity/1001", "spiffe://strait.local/identity/1003"]);
    const hcm = chain.filters[0].typed_config;
    expect(hcm.rds.route_config_name).toBe("strait/encrypt/inbound/1002");
    const routes = j(r.routes.get("strait/encrypt/inbound/1002")).virtual_hosts[0].routes;
    expect(
      routes.map((x: { match: { headers: { string_match: { safe_regex: { regex: string } } }[] } }) =>
        x.match.headers.map((h) => h.string_match.safe_regex.regex),
      ),
    ).toEqual([
      ["(.*;)?URI=spiffe://strait\\.local/identity/1001(;.*)?", "^(10\\.0\\.2\\.2):(7070)$"],
      ["(.*;)?URI=spiffe://strait\\.local/identity/1003(;.*)?", "^(10\\.0\\.2\\.2):([0-9]+)$"],
    ]);
    const deliver = j(r.clusters.get("strait/encrypt/deliver/1001"));
    expect(deliver.type).toBe("ORIGINAL_DST");
    expect(deliver.upstream_bind_config.socket_options[0]).toMatchObject({
      name: 36,
      int_value: 0x0e00 | (1001 << 16),
    });
  });

  it("keeps the inbound chain as it was when a pod of the identity comes: only its routes change, so Envoy keeps the tunnels on it", () => {
    const before = encryptionResources(B, { sdsDir: "/run/sds" });
    const more = encryptionResources(
      {
        ...B,
        endpoints: [
          ...B.endpoints,
          { id: 2, identity: SERVER, addresses: ["10.0.2.3"], hostInterface: "", sources: [] },
        ],
      },
      { sdsDir: "/run/sds" },
    );
    const chain = (x: typeof before) => j(x.listeners.get(ENCRYPT_INBOUND_LISTENER)).filter_chains[0];
    expect(chain(more)).toEqual(chain(before));
    expect(j(more.routes.get("strait/encrypt/inbound/1002"))).not.toEqual(
      j(before.routes.get("strait/encrypt/inbound/1002")),
    );
    expect(JSON.stringify(j(more.routes.get("strait/encrypt/inbound/1002")))).toContain(
      "10\\\\.0\\\\.2\\\\.3",
    );
  });

  it("encodes every resource with the Envoy protos, validate rules included", () => {
    for (const n of [A, B]) {
      const r = encryptionResources(n, { sdsDir: "/run/sds" });
      for (const l of r.listeners.values()) expect(encodeResource(TYPE_URLS.listener, l).issues).toEqual([]);
      for (const c of r.clusters.values()) expect(encodeResource(TYPE_URLS.cluster, c).issues).toEqual([]);
      for (const x of r.routes.values())
        expect(encodeResource(TYPE_URLS.routeConfiguration, x).issues).toEqual([]);
    }
  });

  it("is empty without encryption, and without local pods for a pair", () => {
    expect(encryptionResources(node({}), { sdsDir: "/run/sds" }).listeners.size).toBe(0);
    const lonely = encryptionResources({ ...B, endpoints: [] }, { sdsDir: "/run/sds" });
    expect(lonely.listeners.size).toBe(0);
    expect(lonely.clusters.size).toBe(0);
  });
});
