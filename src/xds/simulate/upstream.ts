/**
 * Upstream choice: the cluster (one, or one of weighted clusters by the
 * random value, as Envoy draws it), then a healthy endpoint of its load
 * assignment. Round robin and random balancing are both modelled as a draw
 * over the healthy endpoints, so a simulation with a given random value is
 * reproducible.
 */
import { field, type Json, type NodeConfig } from "./node-config.ts";
import type { Endpoint } from "./types.ts";

export interface WeightedChoice {
  readonly cluster: string;
  readonly entry?: Json;
  readonly all?: readonly { readonly cluster: string; readonly weight: number }[];
}

export function chooseCluster(action: Json, random: number): WeightedChoice | undefined {
  if (typeof action.cluster === "string") return { cluster: action.cluster };
  const weighted = (action.weighted_clusters as Json | undefined)?.clusters as Json[] | undefined;
  if (weighted === undefined || weighted.length === 0) return undefined;
  const all = weighted.map((c) => ({ cluster: String(c.name), weight: Number(c.weight ?? 0) }));
  const total = all.reduce((n, c) => n + c.weight, 0);
  if (total <= 0) return undefined;
  let point = random * total;
  for (let i = 0; i < weighted.length; i++) {
    const w = all[i]?.weight ?? 0;
    if (point < w) return { cluster: all[i]?.cluster ?? "", entry: weighted[i] as Json, all };
    point -= w;
  }
  const last = weighted.length - 1;
  return { cluster: all[last]?.cluster ?? "", entry: weighted[last] as Json, all };
}

const UNHEALTHY = new Set(["UNHEALTHY", "DRAINING", "TIMEOUT"]);

export function clusterEndpoints(config: NodeConfig, cluster: Json): Endpoint[] {
  const type = String(cluster.type ?? "STATIC");
  let assignment: Json | undefined;
  if (type === "EDS") {
    const serviceName = field<string>(cluster, "eds_cluster_config", "service_name") ?? String(cluster.name);
    assignment = config.loadAssignments.get(serviceName);
  } else {
    assignment = cluster.load_assignment as Json | undefined;
  }
  const out: Endpoint[] = [];
  for (const locality of (assignment?.endpoints as Json[] | undefined) ?? []) {
    const zone = field<string>(locality, "locality", "zone");
    for (const lb of (locality.lb_endpoints as Json[] | undefined) ?? []) {
      if (UNHEALTHY.has(String(lb.health_status ?? "UNKNOWN"))) continue;
      const address = field<string>(lb, "endpoint", "address", "socket_address", "address");
      const port = field<number>(lb, "endpoint", "address", "socket_address", "port_value");
      if (address === undefined || port === undefined) continue;
      out.push({ address, port, ...(zone === undefined || zone === "" ? {} : { zone }) });
    }
  }
  return out;
}

export function pickEndpoint(endpoints: readonly Endpoint[], random: number): Endpoint | undefined {
  if (endpoints.length === 0) return undefined;
  return endpoints[Math.min(endpoints.length - 1, Math.floor(random * endpoints.length))];
}

/** SNI of the cluster's TLS transport socket, if it originates TLS. */
export function upstreamTls(cluster: Json): { sni?: string } | undefined {
  const socket = cluster.transport_socket as Json | undefined;
  if (socket === undefined) return undefined;
  const sni = field<string>(socket, "typed_config", "sni");
  return sni === undefined || sni === "" ? {} : { sni };
}
