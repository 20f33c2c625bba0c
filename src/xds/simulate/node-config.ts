/**
 * One node's Envoy configuration, indexed for lookups by name and by address,
 * built once and reused for every simulated request.
 */
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import type {
  envoy_config_cluster_v3_Cluster as Cluster,
  envoy_config_endpoint_v3_ClusterLoadAssignment as ClusterLoadAssignment,
  envoy_config_listener_v3_Listener as Listener,
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
  envoy_extensions_transport_sockets_tls_v3_Secret as Secret,
} from "../proto/envoy-types.ts";
import type { EnvoyResourceSet } from "../translate/resource-set.ts";

/**
 * The resources, typed as the generated proto3 JSON types: they have been encoded with the
 * real Envoy protos and decoded again (prepareNodeConfig), so they have exactly that shape.
 */
export interface NodeConfig {
  /** Listeners by `address:port`. */
  readonly listeners: ReadonlyMap<string, Listener>;
  readonly routeConfigurations: ReadonlyMap<string, RouteConfiguration>;
  readonly clusters: ReadonlyMap<string, Cluster>;
  readonly loadAssignments: ReadonlyMap<string, ClusterLoadAssignment>;
  readonly secrets: ReadonlyMap<string, Secret>;
}

/** Indexes decoded resources (proto3 JSON with proto field names). */
export function indexNodeConfig(resources: EnvoyResourceSet): NodeConfig {
  const listeners = new Map<string, Listener>();
  for (const l of resources[TYPE_URLS.listener].values() as Iterable<Listener>) {
    const address = l.address?.socket_address?.address ?? "0.0.0.0";
    const port = l.address?.socket_address?.port_value ?? 0;
    listeners.set(`${address}:${port}`, l);
  }
  return {
    listeners,
    routeConfigurations: resources[TYPE_URLS.routeConfiguration] as ReadonlyMap<string, RouteConfiguration>,
    clusters: resources[TYPE_URLS.cluster] as ReadonlyMap<string, Cluster>,
    loadAssignments: resources[TYPE_URLS.clusterLoadAssignment] as ReadonlyMap<string, ClusterLoadAssignment>,
    secrets: resources[TYPE_URLS.secret] as ReadonlyMap<string, Secret>,
  };
}
