/**
 * Which listeners a route attaches to through one parentRef, and why not when
 * it does not. Order of the checks follows the spec's reasons: no listener
 * matching sectionName/port (NoMatchingParent), none allowing the route's
 * kind or namespace (NotAllowedByListeners), none whose hostname intersects
 * the route's (NoMatchingListenerHostname).
 */
import type { ResourceView } from "../resources/view.ts";
import { routeHostnames } from "./hostname.ts";
import type { LabelExpression, ListenerState, NamespacePolicy } from "./listeners.ts";

export interface ParentRefLike {
  readonly group?: string;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
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
      readonly reason: "NoMatchingParent" | "NotAllowedByListeners" | "NoMatchingListenerHostname";
      readonly message: string;
    };

function matchesExpression(labels: Readonly<Record<string, string>>, e: LabelExpression): boolean {
  const value = labels[e.key];
  switch (e.operator) {
    case "In":
      return value !== undefined && e.values.includes(value);
    case "NotIn":
      return value === undefined || !e.values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
    default:
      return false;
  }
}

/**
 * Labels of a namespace. `kubernetes.io/metadata.name` is set by the API
 * server on every namespace; it is added here too, so selectors on it work
 * in standalone mode and for namespaces that exist only implicitly.
 */
function namespaceLabels(view: ResourceView, namespace: string): Record<string, string> {
  const ns = view.get("Namespace", "", namespace);
  return { ...(ns?.metadata.labels ?? {}), "kubernetes.io/metadata.name": namespace };
}

export function namespaceAllowed(
  view: ResourceView,
  policy: NamespacePolicy,
  listenerNamespace: string,
  routeNamespace: string,
): boolean {
  switch (policy.from) {
    case "All":
      return true;
    case "None":
      return false;
    case "Same":
      return listenerNamespace === routeNamespace;
    case "Selector": {
      const labels = namespaceLabels(view, routeNamespace);
      return (
        Object.entries(policy.matchLabels).every(([k, v]) => labels[k] === v) &&
        policy.matchExpressions.every((e) => matchesExpression(labels, e))
      );
    }
  }
}

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
