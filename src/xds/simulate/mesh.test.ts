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
