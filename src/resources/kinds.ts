/**
 * The catalogue of every Kubernetes kind the controller reads: where it lives in
 * the API (group, version, plural), whether it is namespaced, and which schema
 * validates it. Sources, the store and the CLI all go through this table.
 */

export const KINDS = [
  {
    kind: "GatewayClass",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "gatewayclasses",
    namespaced: false,
  },
  {
    kind: "Gateway",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "gateways",
    namespaced: true,
  },
  {
    kind: "HTTPRoute",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "httproutes",
    namespaced: true,
  },
  {
    kind: "GRPCRoute",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "grpcroutes",
    namespaced: true,
  },
  {
    kind: "ListenerSet",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "listenersets",
    namespaced: true,
  },
  {
    kind: "TLSRoute",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "tlsroutes",
    namespaced: true,
  },
  {
    kind: "ReferenceGrant",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "referencegrants",
    namespaced: true,
  },
  {
    kind: "BackendTLSPolicy",
    group: "gateway.networking.k8s.io",
    version: "v1",
    plural: "backendtlspolicies",
    namespaced: true,
  },
  { kind: "Ingress", group: "networking.k8s.io", version: "v1", plural: "ingresses", namespaced: true },
  {
    kind: "IngressClass",
    group: "networking.k8s.io",
    version: "v1",
    plural: "ingressclasses",
    namespaced: false,
  },
  { kind: "Service", group: "", version: "v1", plural: "services", namespaced: true },
  {
    kind: "EndpointSlice",
    group: "discovery.k8s.io",
    version: "v1",
    plural: "endpointslices",
    namespaced: true,
  },
  { kind: "Secret", group: "", version: "v1", plural: "secrets", namespaced: true },
  { kind: "ConfigMap", group: "", version: "v1", plural: "configmaps", namespaced: true },
  { kind: "Namespace", group: "", version: "v1", plural: "namespaces", namespaced: false },
  { kind: "Pod", group: "", version: "v1", plural: "pods", namespaced: true },
  { kind: "Node", group: "", version: "v1", plural: "nodes", namespaced: false },
  {
    kind: "CiliumNetworkPolicy",
    group: "cilium.io",
    version: "v2",
    plural: "ciliumnetworkpolicies",
    namespaced: true,
  },
  {
    kind: "CiliumClusterwideNetworkPolicy",
    group: "cilium.io",
    version: "v2",
    plural: "ciliumclusterwidenetworkpolicies",
    namespaced: false,
  },
  // Security identities as the leader recorded them (src/policy/identity-objects.ts).
  {
    kind: "CiliumIdentity",
    group: "cilium.io",
    version: "v2",
    plural: "ciliumidentities",
    namespaced: false,
  },
] as const;

export type KindName = (typeof KINDS)[number]["kind"];

export interface KindInfo {
  readonly kind: KindName;
  readonly group: string;
  /** The version the controller lists and watches. */
  readonly version: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

const BY_KIND: ReadonlyMap<string, KindInfo> = new Map(KINDS.map((k) => [k.kind, k]));

export const KIND_NAMES: readonly KindName[] = KINDS.map((k) => k.kind);

export function isKindName(kind: string): kind is KindName {
  return BY_KIND.has(kind);
}

export function kindInfo(kind: KindName): KindInfo {
  const info = BY_KIND.get(kind);
  if (info === undefined) throw new Error(`unknown kind ${kind}`);
  return info;
}

/** Splits `group/version` (or `version` for the core group). */
export function parseApiVersion(apiVersion: string): { group: string; version: string } {
  const slash = apiVersion.indexOf("/");
  return slash < 0
    ? { group: "", version: apiVersion }
    : { group: apiVersion.slice(0, slash), version: apiVersion.slice(slash + 1) };
}

/** `apiVersion` string of a kind as the controller reads it. */
export function apiVersionOf(info: KindInfo): string {
  return info.group === "" ? info.version : `${info.group}/${info.version}`;
}
