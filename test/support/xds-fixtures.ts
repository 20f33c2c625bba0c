/**
 * Small, valid Envoy resources for xDS server tests (proto3 JSON), and a
 * helper that puts them into the ResourceJsonSet the cache publishes.
 */
import type { ResourceJsonSet } from "../../src/xds/cache/index.ts";
import { TYPE_URLS } from "../../src/xds/proto/index.ts";

type Json = Record<string, unknown>;
const ADS = { ads: {}, resource_api_version: "V3" };

export const LDS = TYPE_URLS.listener;
export const RDS = TYPE_URLS.routeConfiguration;
export const CDS = TYPE_URLS.cluster;
export const EDS = TYPE_URLS.clusterLoadAssignment;
export const SDS = TYPE_URLS.secret;

export function cluster(name: string, connectTimeout = "10s"): Json {
  return {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ADS, service_name: name },
    connect_timeout: connectTimeout,
    lb_policy: "ROUND_ROBIN",
  };
}

export function endpoints(name: string, ...ports: number[]): Json {
  return {
    cluster_name: name,
    endpoints: [
      {
        load_balancing_weight: Math.max(ports.length, 1),
        lb_endpoints: ports.map((port) => ({
          endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: port } } },
        })),
      },
    ],
  };
}

export function listener(name: string, port: number, routeConfig: string): Json {
  return {
    name,
    address: { socket_address: { address: "127.0.0.1", port_value: port } },
    filter_chains: [
      {
        filters: [
          {
            name: "envoy.filters.network.http_connection_manager",
            typed_config: {
              "@type":
                "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
              stat_prefix: name,
              rds: { route_config_name: routeConfig, config_source: ADS },
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
      },
    ],
  };
}

export function routeConfig(name: string, clusterName: string): Json {
  return {
    name,
    virtual_hosts: [
      { name, domains: ["*"], routes: [{ match: { prefix: "/" }, route: { cluster: clusterName } }] },
    ],
  };
}

/** Resources by type; each keyed by its name (cluster_name for load assignments). */
export function resourceSet(resources: Partial<Record<string, readonly Json[]>>): ResourceJsonSet {
  const set: Record<string, Map<string, Json>> = {};
  for (const [typeUrl, list] of Object.entries(resources)) {
    set[typeUrl] = new Map((list ?? []).map((r) => [String(r.name ?? r.cluster_name), r]));
  }
  return set;
}
