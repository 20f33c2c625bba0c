/**
 * Which listeners a route attaches to through one parentRef, and why not when
 * it does not. Order of the checks follows the spec's reasons: no listener
 * matching sectionName/port (NoMatchingParent), none allowing the route's
 * kind or namespace (NotAllowedByListeners), none whose hostname intersects
 * the route's (NoMatchingListenerHostname).
 */
import type { ResourceView } from "../resources/view.ts";
import { routeHostnames } from "./hostname.ts";
import type { ListenerState } from "./listeners.ts";
import { namespaceAllowed } from "./namespace-policy.ts";

export interface ParentRefLike {
  readonly group?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

/** Whether a parentRef names a Service (GAMMA, mesh-parents.ts): `group` "" or "core", `kind` Service. */
export function isServiceParent(ref: ParentRefLike): boolean {
  return (ref.group === "" || ref.group === "core") && ref.kind === "Service";
}

export interface Attachment {
  readonly listener: ListenerState;
  /** Hostnames the route serves through this listener (`*` for any). */
  readonly hostnames: readonly string[];
}

export type AttachmentResult =
  | { readonly ok: true; readonly attachments: readonly Attachment[] }
  | {
      readonly ok: false;
      /** Conflicted: a Service parent whose ports a route of a preferred type took (GEP-1426, mesh.ts). */
      readonly reason:
        | "NoMatchingParent"
        | "NotAllowedByListeners"
        | "NoMatchingListenerHostname"
        | "Conflicted";
      readonly message: string;
    };

export function attach(
  view: ResourceView,
  route: { readonly kind: string; readonly namespace: string; readonly hostnames: readonly string[] },
  parentRef: ParentRefLike,
  listeners: readonly ListenerState[],
): AttachmentResult {
  const candidates = listeners.filter(
    (l) =>
      (parentRef.sectionName === undefined || l.name === parentRef.sectionName) &&
      (parentRef.port === undefined || l.port === parentRef.port),
  );
  if (candidates.length === 0) {
    const what = [
      parentRef.sectionName === undefined ? "" : `sectionName ${parentRef.sectionName}`,
      parentRef.port === undefined ? "" : `port ${parentRef.port}`,
    ]
      .filter((s) => s !== "")
      .join(" and ");
    return {
      ok: false,
      reason: "NoMatchingParent",
      message: `no listener matches ${what || "the parentRef"}`,
    };
  }
  const allowed = candidates.filter(
    (l) =>
      l.accepted &&
      l.supportedKinds.some((k) => k.kind === route.kind) &&
      namespaceAllowed(view, l.namespaces, l.owner.namespace, route.namespace),
  );
  if (allowed.length === 0) {
    return {
      ok: false,
      reason: "NotAllowedByListeners",
      message: `no listener allows ${route.kind} from namespace ${route.namespace}`,
    };
  }
  const attachments: Attachment[] = [];
  for (const listener of allowed) {
    const hostnames = routeHostnames(listener.hostname, route.hostnames);
    if (hostnames.length > 0) attachments.push({ listener, hostnames });
  }
  if (attachments.length === 0) {
    return {
      ok: false,
      reason: "NoMatchingListenerHostname",
      message: "no listener hostname intersects the route's hostnames",
    };
  }
  return { ok: true, attachments };
}
