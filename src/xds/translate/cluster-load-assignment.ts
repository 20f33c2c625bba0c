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
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import type {
  envoy_config_endpoint_v3_ClusterLoadAssignment,
  envoy_config_endpoint_v3_LbEndpoint as LbEndpoint,
} from "../proto/envoy-types.ts";
import { PART_TYPES, PartChecker, resourceEncodes } from "./strict-check.ts";

/** Proto3 JSON of envoy.config.endpoint.v3.ClusterLoadAssignment. */
export type ClusterLoadAssignmentJson = envoy_config_endpoint_v3_ClusterLoadAssignment;

function lbEndpoint(ep: Endpoint): LbEndpoint {
  return {
    endpoint: { address: { socket_address: { address: ep.address, port_value: ep.port } } },
    health_status: "HEALTHY",
  };
}

function assemble(backend: ServiceBackend, endpoints: readonly Endpoint[]): ClusterLoadAssignmentJson {
  const byZone = new Map<string, Endpoint[]>();
  for (const ep of endpoints) {
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
        lb_endpoints: eps.map(lbEndpoint),
      };
    }),
  };
}

/**
 * The load assignment, and the endpoints left out of it because they do not
 * encode (the others are served). The whole is checked first; each endpoint
 * only when it fails.
 */
export function buildClusterLoadAssignment(backend: ServiceBackend): {
  readonly json: ClusterLoadAssignmentJson;
  readonly excluded: readonly Exclusion[];
} {
  const whole = assemble(backend, backend.endpoints);
  if (resourceEncodes(TYPE_URLS.clusterLoadAssignment, whole)) return { json: whole, excluded: [] };
  const checker = new PartChecker("endpoints", backend.clusterName);
  const good = backend.endpoints.filter((ep) =>
    checker.accept(
      "endpoint",
      PART_TYPES.endpoint,
      `${ep.address}:${ep.port}`,
      lbEndpoint(ep),
      backend.sources,
    ),
  );
  return { json: assemble(backend, good), excluded: checker.excluded };
}
