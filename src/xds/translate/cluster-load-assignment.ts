/**
 * ServiceBackend → ClusterLoadAssignment: the ready endpoints, grouped by
 * zone into localities. Every locality carries a weight (its number of
 * endpoints): Envoy ignores locality weights unless a cluster asks for
 * locality-weighted balancing, but gRPC drops localities without one. And
 * every group carries a locality, empty for endpoints without a zone: to
 * Envoy that is the same as none, but gRPC rejects (NACKs) a group without.
 */
import type { Endpoint, ServiceBackend } from "../../model/backend.ts";
import type { Exclusion } from "../../model/exclusion.ts";
import type {
  envoy_config_endpoint_v3_ClusterLoadAssignment,
  envoy_config_endpoint_v3_LbEndpoint as LbEndpoint,
} from "../proto/envoy-types.ts";
import { PART_TYPES, PartChecker } from "./strict-check.ts";

/** Proto3 JSON of envoy.config.endpoint.v3.ClusterLoadAssignment. */
export type ClusterLoadAssignmentJson = envoy_config_endpoint_v3_ClusterLoadAssignment;

function lbEndpoint(ep: Endpoint): LbEndpoint {
  return {
    endpoint: { address: { socket_address: { address: ep.address, port_value: ep.port } } },
    health_status: "HEALTHY",
  };
}

/** The load assignment, and the endpoints left out of it because they do not encode (the others are served). */
export function buildClusterLoadAssignment(backend: ServiceBackend): {
  readonly json: ClusterLoadAssignmentJson;
  readonly excluded: readonly Exclusion[];
} {
  const checker = new PartChecker("endpoints", backend.clusterName);
  const byZone = new Map<string, Endpoint[]>();
  for (const ep of backend.endpoints) {
    const name = `${ep.address}:${ep.port}`;
    if (!checker.accept("endpoint", PART_TYPES.endpoint, name, lbEndpoint(ep), backend.sources)) continue;
    const zone = ep.zone ?? "";
    const list = byZone.get(zone);
    if (list === undefined) byZone.set(zone, [ep]);
    else list.push(ep);
  }
  const zones = [...byZone.keys()].sort();
  const json: ClusterLoadAssignmentJson = {
    cluster_name: backend.clusterName,
    endpoints: zones.map((zone) => {
      const eps = byZone.get(zone) ?? [];
      return {
        locality: zone === "" ? {} : { zone },
        load_balancing_weight: eps.length,
        lb_endpoints: eps.map(lbEndpoint),
      };
    }),
  };
  return { json, excluded: checker.excluded };
}
