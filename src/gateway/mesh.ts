/**
 * GAMMA: the mesh model, what every node's mesh listener does with a flow
 * from a local pod to a Service's `ClusterIP:port`.
 *
 * Every ClusterIP Service TCP port is a mesh service, routes or not: these
 * machines run no kube-proxy, so the mesh listener is what makes a ClusterIP
 * reachable at all (MeshBasic). A port no producer route attaches to is
 * proxied as a TCP stream to the Service's endpoints (the cluster of that
 * Service port); a port with producer routes gets an HTTP chain with those
 * routes.
 *
 * Consumer routes (a route in another namespace than the Service's) apply to
 * the clients of their own namespace only, and there they take the place of
 * the producer routes (MeshConsumerRoute): an extra chain for the same
 * destination whose source addresses are that namespace's pod IPs. Envoy
 * picks the most specific source match, so those clients get it and every
 * other client the producer chain. A consumer namespace without pod IPs gets
 * no chain (one without source addresses would match every client).
 *
 * HTTPRoutes and GRPCRoutes on one Service port do not merge (GEP-1426,
 * "Route types"): per port, and per consumer namespace for consumer routes,
 * only one route type applies, GRPCRoute before HTTPRoute. An HTTPRoute that
 * loses every port of a parentRef this way gets Accepted=False with reason
 * Conflicted for it; one that keeps some ports stays accepted there.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { RouteTable } from "../model/gateway.ts";
import {
  MESH_PROXY_PORT,
  type MeshChain,
  type MeshModel,
  type MeshService,
  meshServiceName,
} from "../model/mesh-service.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import type { ResourceView } from "../resources/view.ts";
import type { TranslatedHttpRoute } from "./httproute.ts";
import type { ParentResult } from "./httproute-status.ts";
import { type MeshAttachment, type MeshServiceTarget, meshTarget } from "./mesh-parents.ts";
import { buildMeshRouteTable } from "./route-tables.ts";
import { resolveServiceBackend, serviceClusterName } from "./service-backends.ts";

/** The cluster a mesh Service port without routes streams to: `strait/mesh-tcp/<namespace>/<service>:<port>`. */
export function meshTcpClusterName(serviceCluster: string): string {
  return `strait/mesh-tcp/${serviceCluster}`;
}

export interface MeshOutput {
  readonly mesh: MeshModel;
  readonly routeTables: readonly RouteTable[];
  /** The clusters of the ports proxied as TCP streams (route backends come with their routes). */
  readonly backends: readonly ServiceBackend[];
}

/** The route table of a mesh chain: `strait/mesh/namespace/service:port[/consumer/namespace]`. */
export function meshRouteTableName(chain: string): string {
  return `strait/mesh/${chain}`;
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** IPv4 addresses of the namespace's pods (status.podIPs, else status.podIP), sorted, as /32s. */
function podPrefixes(view: ResourceView, namespace: string): string[] {
  const out = new Set<string>();
  for (const pod of view.list("Pod", namespace)) {
    const status = (pod as { status?: { podIP?: string; podIPs?: { ip?: string }[] } }).status;
    const ips = status?.podIPs?.map((p) => p.ip ?? "") ?? (status?.podIP === undefined ? [] : [status.podIP]);
    for (const ip of ips) if (IPV4.test(ip)) out.add(`${ip}/32`);
  }
  return [...out].sort();
}

/** Every Service the mesh serves, sorted by `namespace/name`. */
function meshTargets(view: ResourceView): MeshServiceTarget[] {
  const out: MeshServiceTarget[] = [];
  for (const service of view.list("Service")) {
    const found = meshTarget(view, service.metadata.namespace ?? "", service.metadata.name);
    if ("target" in found && found.target.ports.length > 0) out.push(found.target);
  }
  out.sort((a, b) => {
    const x = `${a.namespace}/${a.name}`;
    const y = `${b.namespace}/${b.name}`;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  // One ClusterIP, one Service (the API server guarantees it; a folder of manifests may not): the
  // first by name keeps it, so no two chains match the same destination.
  const taken = new Set<string>();
  return out.filter((t) => !taken.has(t.address) && taken.add(t.address) !== undefined);
}

function refsOf(routes: readonly TranslatedHttpRoute[]): ResourceRef[] {
  return routes.map((r) => r.ref);
}

/** Routes of one Service port by consumer namespace ("" for the producer routes), in attachment order. */
export type MeshPortRoutes = ReadonlyMap<string, readonly TranslatedHttpRoute[]>;

/** A route that lost the route-type precedence on some Service ports. */
export interface MeshConflict {
  /** The GRPCRoute that took them (the first one found). */
  readonly winner: TranslatedHttpRoute;
  /** `<serviceClusterName>|<consumer namespace or "">` of every port it lost. */
  readonly lost: ReadonlySet<string>;
}

export interface MeshRoutes {
  /** By `namespace/service:port` (serviceClusterName): the routes that apply there. */
  readonly byPort: ReadonlyMap<string, MeshPortRoutes>;
  readonly conflicts: ReadonlyMap<TranslatedHttpRoute, MeshConflict>;
}

function slot(key: string, consumer: string | undefined): string {
  return `${key}|${consumer ?? ""}`;
}

/**
 * The mesh routes of every Service port: the routes attached to it, grouped
 * by consumer namespace, after the route-type precedence (GRPCRoute over
 * HTTPRoute on one port and group), and the routes that lost a port to it.
 * The mesh listener's chains and proxyless clients' routes both read this.
 */
export function meshRoutesByPort(attachments: readonly MeshAttachment[]): MeshRoutes {
  const all = new Map<string, Map<string, TranslatedHttpRoute[]>>();
  for (const a of attachments) {
    for (const port of a.ports) {
      const key = serviceClusterName(a.service.namespace, a.service.name, port);
      const groups = all.get(key) ?? new Map<string, TranslatedHttpRoute[]>();
      const list = groups.get(a.consumer ?? "") ?? [];
      if (!list.includes(a.route)) list.push(a.route);
      groups.set(a.consumer ?? "", list);
      all.set(key, groups);
    }
  }
  const conflicts = new Map<TranslatedHttpRoute, { winner: TranslatedHttpRoute; lost: Set<string> }>();
  const byPort = new Map<string, MeshPortRoutes>();
  for (const [key, groups] of all) {
    const kept = new Map<string, readonly TranslatedHttpRoute[]>();
    for (const [consumer, routes] of groups) {
      const winner = routes.find((r) => r.ref.kind === "GRPCRoute");
      if (winner === undefined) {
        kept.set(consumer, routes);
        continue;
      }
      for (const loser of routes.filter((r) => r.ref.kind !== "GRPCRoute")) {
        const entry = conflicts.get(loser) ?? { winner, lost: new Set<string>() };
        entry.lost.add(slot(key, consumer));
        conflicts.set(loser, entry);
      }
      kept.set(
        consumer,
        routes.filter((r) => r.ref.kind === "GRPCRoute"),
      );
    }
    byPort.set(key, kept);
  }
  return { byPort, conflicts };
}

/**
 * The Service parents' results of a route that lost ports to a GRPCRoute: a
 * parentRef all of whose ports it lost is not accepted (Conflicted, the
 * reason GEP-1426 names); others keep their result.
 */
export function meshConflictResults(
  results: readonly ParentResult[],
  attachments: readonly MeshAttachment[],
  conflict: MeshConflict,
): ParentResult[] {
  return results.map((result) => {
    const a = attachments.find((x) => x.parentRef === result.parentRef);
    if (a === undefined || !result.attachment.ok) return result;
    const kept = a.ports.filter(
      (p) => !conflict.lost.has(slot(serviceClusterName(a.service.namespace, a.service.name, p), a.consumer)),
    );
    if (kept.length > 0) return result;
    const w = conflict.winner;
    return {
      parentRef: result.parentRef,
      attachment: {
        ok: false,
        reason: "Conflicted",
        message: `GRPCRoute ${w.namespace}/${w.name} is attached to the same Service port${a.ports.length === 1 ? "" : "s"} (${a.ports.join(", ")}); one route type applies per port, GRPCRoute before HTTPRoute`,
      },
    };
  });
}

export function buildMesh(view: ResourceView, attachments: readonly MeshAttachment[]): MeshOutput {
  const { byPort } = meshRoutesByPort(attachments);
  const services: MeshService[] = [];
  const chains: MeshChain[] = [];
  const routeTables: RouteTable[] = [];
  const backends: ServiceBackend[] = [];
  const pods = new Map<string, string[]>();
  for (const target of meshTargets(view)) {
    const serviceRef: ResourceRef = {
      group: "",
      kind: "Service",
      namespace: target.namespace,
      name: target.name,
    };
    const service = `${target.namespace}/${target.name}`;
    for (const { port } of target.ports) {
      services.push({ service, address: target.address, port, protocol: "TCP", proxyPort: MESH_PROXY_PORT });
      const name = serviceClusterName(target.namespace, target.name, port);
      const groups: MeshPortRoutes = byPort.get(name) ?? new Map<string, readonly TranslatedHttpRoute[]>();
      const base = { service, address: target.address, port };
      const producers = groups.get("") ?? [];
      if (producers.length === 0) {
        // A cluster of its own: a Gateway route's cluster of the same Service port may carry
        // TLS to the backend (BackendTLSPolicy), which a pod's own stream must not get.
        const cluster = meshTcpClusterName(name);
        const backend = resolveServiceBackend(view, target.namespace, target.name, port);
        if (backend.ok) backends.push({ ...backend.value, clusterName: cluster, protocol: "tcp" });
        chains.push({
          ...base,
          name,
          sourcePrefixes: [],
          action: { kind: "tcp", cluster },
          sources: [serviceRef],
        });
      } else {
        const table = buildMeshRouteTable(meshRouteTableName(name), port, producers);
        routeTables.push(table);
        chains.push({
          ...base,
          name,
          sourcePrefixes: [],
          action: { kind: "http", routeTable: table.name },
          sources: [serviceRef, ...refsOf(producers)],
        });
      }
      for (const [consumer, routes] of [...groups].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        if (consumer === "") continue;
        let prefixes = pods.get(consumer);
        if (prefixes === undefined) {
          prefixes = podPrefixes(view, consumer);
          pods.set(consumer, prefixes);
        }
        if (prefixes.length === 0) continue;
        const chainName = `${name}/consumer/${consumer}`;
        const table = buildMeshRouteTable(meshRouteTableName(chainName), port, routes);
        routeTables.push(table);
        chains.push({
          ...base,
          name: chainName,
          sourcePrefixes: prefixes,
          action: { kind: "http", routeTable: table.name },
          sources: [serviceRef, ...refsOf(routes)],
        });
      }
    }
  }
  services.sort((a, b) => {
    const x = meshServiceName(a);
    const y = meshServiceName(b);
    return x < y ? -1 : x > y ? 1 : 0;
  });
  chains.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { mesh: { services, chains }, routeTables, backends };
}
