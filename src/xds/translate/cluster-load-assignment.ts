/**
 * ServiceBackend → ClusterLoadAssignment: the ready endpoints, grouped by
 * zone into localities. Every locality carries a weight (its number of
 * endpoints): Envoy ignores locality weights unless a cluster asks for
 * locality-weighted balancing, but gRPC drops localities without one. And
 * every group carries a locality, empty for endpoints without a zone: to
 * Envoy that is the same as none, but gRPC rejects (NACKs) a group without.
 */
import type { Endpoint, ServiceBackend } from "../../model/backend.ts";
import type { envoy_config_endpoint_v3_ClusterLoadAssignment } from "../proto/envoy-types.ts";

/** Proto3 JSON of envoy.config.endpoint.v3.ClusterLoadAssignment. */
export type ClusterLoadAssignmentJson = envoy_config_endpoint_v3_ClusterLoadAssignment;

export function buildClusterLoadAssignment(backend: ServiceBackend): ClusterLoadAssignmentJson {
  const byZone = new Map<string, Endpoint[]>();
  for (const ep of backend.endpoints) {
    const zone = ep.zone ?? "";
    const list = byZone.get(zone);
    if (list === undefined) byZone.set(zone, [ep]);
    else list.push(ep);
  }
  const zones = [...byZone.keys()].sort();
  return {
    cluster_name: backend.clusterName,
    endpoints: zones.map((zone) => {
      const eps = byZone.get(zone) ?? [];
      return {
        locality: zone === "" ? {} : { zone },
        load_balancing_weight: eps.length,
        lb_endpoints: eps.map((ep) => ({
          endpoint: { address: { socket_address: { address: ep.address, port_value: ep.port } } },
          health_status: "HEALTHY",
        })),
      };
    }),
  };
}
