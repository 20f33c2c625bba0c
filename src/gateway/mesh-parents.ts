/**
 * GAMMA: the Service parentRefs of an HTTPRoute or a GRPCRoute (`group: ""` or `core`,
 * `kind: Service`) and what each attaches to. A parentRef selects the
 * Service's TCP ports: all of them, the one numbered `port`, or the one named
 * `sectionName`. A Service that does not exist, has no ClusterIP (headless,
 * ExternalName) or has no such port is no parent: Accepted=False with
 * NoMatchingParent (the reason Istio and Linkerd give; the spec names none
 * for a missing Service).
 *
 * A route in the Service's namespace is a producer route (for every client);
 * one in another namespace is a consumer route, for the clients of its own
 * namespace only (GEP-1426).
 */
import { parseIpv4 } from "../net/ipv4.ts";
import type { ResourceView } from "../resources/view.ts";
import type { TranslatedHttpRoute } from "./httproute.ts";
import type { ParentResult } from "./httproute-status.ts";
import { isServiceParent, type ParentRefLike } from "./route-attachment.ts";

/** A Service that mesh routes can attach to and the agents redirect: an IPv4 ClusterIP and its TCP ports. */
export interface MeshServiceTarget {
  readonly namespace: string;
  readonly name: string;
  readonly address: string;
  readonly ports: readonly { readonly port: number; readonly name: string; readonly http: boolean }[];
}

/** A route attached to some ports of a Service. */
export interface MeshAttachment {
  readonly route: TranslatedHttpRoute;
  /** The parentRef that attached it (its status result is for this one). */
  readonly parentRef: ParentRefLike;
  readonly service: MeshServiceTarget;
  readonly ports: readonly number[];
  /** The route's namespace when it is a consumer route; undefined for a producer route. */
  readonly consumer?: string;
}

interface ServicePortLike {
  name?: string;
  port?: number;
  protocol?: string;
  appProtocol?: string;
}

const HTTP_APP_PROTOCOLS = new Set([
  "http",
  "http2",
  "h2c",
  "grpc",
  "kubernetes.io/h2c",
  "kubernetes.io/ws",
  "ws",
  "websocket",
]);

/** Whether a Service port speaks HTTP: its appProtocol says so, or (without one) its name does. */
function speaksHttp(p: ServicePortLike): boolean {
  if (p.appProtocol !== undefined) return HTTP_APP_PROTOCOLS.has(p.appProtocol.toLowerCase());
  return /^(http|http-.*|http2.*|grpc.*|h2c.*)$/.test((p.name ?? "").toLowerCase());
}

/**
 * The Service as a mesh target, or why it is none. Only IPv4 ClusterIPs:
 * headless (`None`) and ExternalName Services have no address to redirect,
 * and the datapath is IPv4 only. Only TCP ports (the mesh listener is TCP).
 */
export function meshTarget(
  view: ResourceView,
  namespace: string,
  name: string,
): { readonly target: MeshServiceTarget } | { readonly problem: string } {
  const service = view.get("Service", namespace, name);
  if (service === undefined) return { problem: `Service ${namespace}/${name} not found` };
  const spec = (service.spec ?? {}) as { type?: string; clusterIP?: string; ports?: ServicePortLike[] };
  const address = spec.clusterIP;
  if (spec.type === "ExternalName" || address === undefined || address === "" || address === "None")
    return { problem: `Service ${namespace}/${name} has no ClusterIP (headless or ExternalName)` };
  if (!parseIpv4(address).ok)
    return {
      problem: `Service ${namespace}/${name} has ClusterIP ${address}, not IPv4 (strait's mesh is IPv4 only)`,
    };
  const ports = (spec.ports ?? []).flatMap((p) =>
    (p.protocol ?? "TCP") === "TCP" && typeof p.port === "number"
      ? [{ port: p.port, name: p.name ?? "", http: speaksHttp(p) }]
      : [],
  );
  return { target: { namespace, name, address, ports } };
}

/**
 * The route's Service parents: one status result per Service parentRef, and
 * what attaches (nothing for a route none of whose rules is valid: it is not
 * accepted anyway).
 */
export function meshParents(
  view: ResourceView,
  parentRefs: readonly ParentRefLike[],
  route: TranslatedHttpRoute,
): { readonly results: ParentResult[]; readonly attachments: MeshAttachment[] } {
  const results: ParentResult[] = [];
  const attachments: MeshAttachment[] = [];
  for (const parentRef of parentRefs) {
    if (!isServiceParent(parentRef)) continue;
    const namespace = parentRef.namespace ?? route.namespace;
    const found = meshTarget(view, namespace, parentRef.name);
    if ("problem" in found) {
      results.push({
        parentRef,
        attachment: { ok: false, reason: "NoMatchingParent", message: found.problem },
      });
      continue;
    }
    const { target } = found;
    const chosen = parentRef.port !== undefined || parentRef.sectionName !== undefined;
    const ports = target.ports.filter(
      (p) =>
        (chosen || p.http) &&
        (parentRef.port === undefined || p.port === parentRef.port) &&
        (parentRef.sectionName === undefined || p.name === parentRef.sectionName),
    );
    if (ports.length === 0) {
      const what = [
        parentRef.sectionName === undefined ? "" : `named ${parentRef.sectionName}`,
        parentRef.port === undefined ? "" : `${parentRef.port}`,
      ]
        .filter((s) => s !== "")
        .join(" ");
      results.push({
        parentRef,
        attachment: {
          ok: false,
          reason: "NoMatchingParent",
          message: chosen
            ? `Service ${namespace}/${parentRef.name} has no TCP port ${what}`
            : `Service ${namespace}/${parentRef.name} has no HTTP port (by appProtocol or port name)`,
        },
      });
      continue;
    }
    results.push({ parentRef, attachment: { ok: true, attachments: [] } });
    if (route.rules.length === 0) continue;
    attachments.push({
      route,
      parentRef,
      service: target,
      ports: ports.map((p) => p.port),
      ...(namespace === route.namespace ? {} : { consumer: route.namespace }),
    });
  }
  return { results, attachments };
}
