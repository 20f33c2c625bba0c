/**
 * The simulator on a mesh listener (GAMMA), built by hand: a flow the
 * datapath redirects goes to 127.0.0.1:15003 whatever its destination, and
 * the filter chain is chosen as Envoy does: destination port, then the
 * longest destination prefix, then the longest source prefix (a chain with
 * source ranges never takes a client of unknown address).
 */
import { describe, expect, it } from "vitest";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import { type EnvoyResourceJson, emptyResourceSet } from "../translate/resource-set.ts";
import { prepareNodeConfig, simulate } from "./index.ts";
import type { SimRequest } from "./types.ts";

const ADS = { ads: {}, resource_api_version: "V3" };
const TCP = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

function chain(name: string, port: number, address: string, sources: string[]) {
  return {
    name,
    filter_chain_match: {
      destination_port: port,
      prefix_ranges: [{ address_prefix: address, prefix_len: 32 }],
      ...(sources.length === 0
        ? {}
        : {
            source_prefix_ranges: sources.map((s) => {
              const [a = "", l = "32"] = s.split("/");
              return { address_prefix: a, prefix_len: Number(l) };
            }),
          }),
    },
    filters: [{ name: "tcp", typed_config: { "@type": TCP, stat_prefix: name, cluster: name } }],
  };
}

const CHAINS = [
  chain("producer", 80, "10.96.0.10", []),
  chain("consumer-subnet", 80, "10.96.0.10", ["10.244.2.0/24"]),
  chain("consumer-pod", 80, "10.96.0.10", ["10.244.2.7/32"]),
  chain("other-service", 80, "10.96.0.11", []),
];

function node() {
  const set = emptyResourceSet();
  const listeners = set[TYPE_URLS.listener] as Map<string, EnvoyResourceJson>;
  listeners.set("strait/mesh", {
    name: "strait/mesh",
    address: { socket_address: { address: "127.0.0.1", port_value: 15003 } },
    transparent: true,
    filter_chains: CHAINS,
  });
  for (const c of CHAINS) {
    (set[TYPE_URLS.cluster] as Map<string, EnvoyResourceJson>).set(c.name, {
      name: c.name,
      type: "EDS",
      eds_cluster_config: { eds_config: ADS, service_name: c.name },
      connect_timeout: "1s",
    });
    (set[TYPE_URLS.clusterLoadAssignment] as Map<string, EnvoyResourceJson>).set(c.name, {
      cluster_name: c.name,
      endpoints: [
        {
          lb_endpoints: [
            { endpoint: { address: { socket_address: { address: "10.244.1.5", port_value: 8080 } } } },
          ],
        },
      ],
    });
  }
  const { config, issues } = prepareNodeConfig(set);
  expect(issues).toEqual([]);
  return config;
}

function flow(address: string, port: number, from?: string): SimRequest {
  return {
    address,
    port,
    via: "mesh",
    ...(from === undefined ? {} : { remoteAddress: from }),
    method: "GET",
    scheme: "http",
    authority: "echo",
    path: "/",
    headers: [],
  };
}

describe("the mesh listener's filter chain choice", () => {
  const config = node();
  const chainOf = (r: SimRequest) => simulate(config, r).filterChain;

  it("takes the most specific source match: the pod's /32, then its subnet, then any client", () => {
    expect(chainOf(flow("10.96.0.10", 80, "10.244.2.7"))).toBe("consumer-pod");
    expect(chainOf(flow("10.96.0.10", 80, "10.244.2.8"))).toBe("consumer-subnet");
    expect(chainOf(flow("10.96.0.10", 80, "10.244.1.9"))).toBe("producer");
  });

  it("gives a client of unknown address the chain without source ranges", () => {
    expect(chainOf(flow("10.96.0.10", 80))).toBe("producer");
  });

  it("chooses by destination address: the Service's ClusterIP, not the Host", () => {
    const result = simulate(config, flow("10.96.0.11", 80, "10.244.2.7"));
    expect(result.filterChain).toBe("other-service");
    expect(result.outcome.kind).toBe("tcp-forward");
    expect(result.trace[0]).toContain("redirects 10.244.2.7 → 10.96.0.11:80");
  });

  it("closes a flow to a port or address no chain names", () => {
    expect(simulate(config, flow("10.96.0.10", 81, "10.244.1.9")).outcome.kind).toBe("connection-failed");
    expect(simulate(config, flow("10.96.0.12", 80, "10.244.1.9")).outcome.kind).toBe("connection-failed");
  });

  it("without the redirect, nothing listens on the ClusterIP", () => {
    const { via: _via, ...direct } = flow("10.96.0.10", 80, "10.244.1.9");
    expect(simulate(config, direct).outcome).toMatchObject({ kind: "connection-failed" });
    expect(simulate(config, direct).filterChain).toBeUndefined();
  });
});

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

/** A mesh listener whose chains (one per port) run an HTTP connection manager with `codec`, routing to `grpc`. */
function httpNode() {
  const set = emptyResourceSet();
  const codecs = { 7070: "AUTO", 7071: "HTTP1", 7072: "HTTP2" } as const;
  (set[TYPE_URLS.listener] as Map<string, EnvoyResourceJson>).set("strait/mesh", {
    name: "strait/mesh",
    address: { socket_address: { address: "127.0.0.1", port_value: 15003 } },
    transparent: true,
    filter_chains: Object.entries(codecs).map(([port, codec]) => ({
      name: `grpc:${port}`,
      filter_chain_match: {
        destination_port: Number(port),
        prefix_ranges: [{ address_prefix: "10.96.0.10", prefix_len: 32 }],
      },
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: {
            "@type": HCM,
            stat_prefix: `grpc:${port}`,
            codec_type: codec,
            route_config: {
              name: `grpc:${port}`,
              virtual_hosts: [
                {
                  name: "all",
                  domains: ["*"],
                  routes: [{ match: { prefix: "/" }, route: { cluster: "grpc" } }],
                },
              ],
            },
            http_filters: [
              {
                name: "envoy.filters.http.router",
                typed_config: {
                  "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router",
                },
              },
            ],
          },
        },
      ],
    })),
  });
  (set[TYPE_URLS.cluster] as Map<string, EnvoyResourceJson>).set("grpc", {
    name: "grpc",
    type: "EDS",
    eds_cluster_config: { eds_config: ADS, service_name: "grpc" },
    connect_timeout: "1s",
  });
  (set[TYPE_URLS.clusterLoadAssignment] as Map<string, EnvoyResourceJson>).set("grpc", {
    cluster_name: "grpc",
    endpoints: [
      {
        lb_endpoints: [
          { endpoint: { address: { socket_address: { address: "10.244.1.5", port_value: 7070 } } } },
        ],
      },
    ],
  });
  const { config, issues } = prepareNodeConfig(set);
  expect(issues).toEqual([]);
  return config;
}

describe("an HTTP chain of the mesh listener and the client's HTTP version", () => {
  const config = httpNode();
  const call = (port: number, http2: boolean): SimRequest => ({
    address: "10.96.0.10",
    port,
    via: "mesh",
    remoteAddress: "10.244.1.9",
    ...(http2 ? { http2 } : {}),
    method: "POST",
    scheme: "http",
    authority: "echo:7070",
    path: "/proto.EchoTestService/Echo",
    headers: [
      ["content-type", "application/grpc"],
      ["te", "trailers"],
    ],
  });

  it("codec AUTO takes a gRPC client's h2c (prior knowledge) and HTTP/1.1 alike", () => {
    expect(simulate(config, call(7070, true)).outcome).toMatchObject({ kind: "forward", cluster: "grpc" });
    expect(simulate(config, call(7070, false)).outcome).toMatchObject({ kind: "forward", cluster: "grpc" });
  });

  it("codec HTTP1 closes an HTTP/2 connection, HTTP2 an HTTP/1.1 one", () => {
    expect(simulate(config, call(7071, true)).outcome).toMatchObject({
      kind: "connection-failed",
      reason: expect.stringContaining("HTTP1"),
    });
    expect(simulate(config, call(7071, false)).outcome.kind).toBe("forward");
    expect(simulate(config, call(7072, false)).outcome.kind).toBe("connection-failed");
    expect(simulate(config, call(7072, true)).outcome.kind).toBe("forward");
  });
});
