/**
 * The kinds whose `/status` strait writes in a cluster. The Helm chart's
 * ClusterRole grants `patch` on exactly these `<plural>/status` subresources
 * (a test holds the two together), and the status writer refuses any other
 * kind, so a new status never fails silently on RBAC in production.
 */
import type { KindName } from "../../resources/kinds.ts";

export const STATUS_KINDS = [
  "GatewayClass",
  "Gateway",
  "ListenerSet",
  "HTTPRoute",
  "GRPCRoute",
  "TLSRoute",
  "BackendTLSPolicy",
  "Ingress",
] as const satisfies readonly KindName[];

const SET: ReadonlySet<string> = new Set(STATUS_KINDS);

export function isStatusKind(kind: string): kind is (typeof STATUS_KINDS)[number] {
  return SET.has(kind);
}
