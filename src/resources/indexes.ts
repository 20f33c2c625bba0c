/**
 * Secondary indexes of the store: the look-ups translation needs, each keyed
 * by a string the index defines. Index keys of an object are computed when it
 * is stored, so a look-up costs one map access, whatever the store's size.
 */
import type { KindName } from "./kinds.ts";
import type { AnyStoredObject, ObjectOf } from "./objects.ts";

export interface IndexSpec<K extends KindName = KindName> {
  readonly kinds: readonly K[];
  /** Keys under which the object is found; none means the object is not indexed. */
  readonly keysOf: (obj: ObjectOf<K>) => readonly string[];
}

type RouteKind = "HTTPRoute" | "GRPCRoute" | "TLSRoute";

interface ParentRefLike {
  group?: string;
  kind?: string;
  namespace?: string;
  name: string;
}

/** Key of a route parent: `group/Kind/namespace/name`, defaulting as the Gateway API does. */
export function parentIndexKey(group: string, kind: string, namespace: string, name: string): string {
  return `${group}/${kind}/${namespace}/${name}`;
}

function routeParentKeys(route: ObjectOf<RouteKind>): string[] {
  const ns = route.metadata.namespace ?? "";
  const refs = ((route.spec as { parentRefs?: ParentRefLike[] } | undefined)?.parentRefs ??
    []) as ParentRefLike[];
  const keys = new Set<string>();
  for (const ref of refs) {
    if (typeof ref?.name !== "string") continue;
    keys.add(
      parentIndexKey(
        ref.group ?? "gateway.networking.k8s.io",
        ref.kind ?? "Gateway",
        ref.namespace ?? ns,
        ref.name,
      ),
    );
  }
  return [...keys];
}

export const INDEXES = {
  /** Routes by each parent they reference: key `parentIndexKey(group, kind, ns, name)`. */
  routesByParent: {
    kinds: ["HTTPRoute", "GRPCRoute", "TLSRoute"],
    keysOf: routeParentKeys,
  } satisfies IndexSpec<RouteKind>,
  /** EndpointSlices by the Service they belong to: key `namespace/service`. */
  endpointSlicesByService: {
    kinds: ["EndpointSlice"],
    keysOf: (slice: ObjectOf<"EndpointSlice">) => {
      const svc = slice.metadata.labels?.["kubernetes.io/service-name"];
      return svc === undefined ? [] : [`${slice.metadata.namespace ?? ""}/${svc}`];
    },
  } satisfies IndexSpec<"EndpointSlice">,
  /** Gateways by their GatewayClass name. */
  gatewaysByClass: {
    kinds: ["Gateway"],
    keysOf: (gw: ObjectOf<"Gateway">) => {
      const cls = (gw.spec as { gatewayClassName?: unknown } | undefined)?.gatewayClassName;
      return typeof cls === "string" ? [cls] : [];
    },
  } satisfies IndexSpec<"Gateway">,
  /** ReferenceGrants by the namespace whose objects they grant access to (their own). */
  referenceGrantsByTargetNamespace: {
    kinds: ["ReferenceGrant"],
    keysOf: (grant: ObjectOf<"ReferenceGrant">) => [grant.metadata.namespace ?? ""],
  } satisfies IndexSpec<"ReferenceGrant">,
  /** BackendTLSPolicies by each target: key `namespace/Kind/name` (the target's group is core for Services). */
  backendTLSPoliciesByTarget: {
    kinds: ["BackendTLSPolicy"],
    keysOf: (policy: ObjectOf<"BackendTLSPolicy">) => {
      const ns = policy.metadata.namespace ?? "";
      const refs = ((policy.spec as { targetRefs?: { kind?: string; name?: string }[] } | undefined)
        ?.targetRefs ?? []) as { kind?: string; name?: string }[];
      return refs
        .filter((r) => typeof r?.name === "string")
        .map((r) => `${ns}/${r.kind ?? "Service"}/${r.name}`);
    },
  } satisfies IndexSpec<"BackendTLSPolicy">,
  /** Ingresses by class: `spec.ingressClassName`, or the legacy annotation. */
  ingressesByClass: {
    kinds: ["Ingress"],
    keysOf: (ing: ObjectOf<"Ingress">) => {
      const cls =
        (ing.spec as { ingressClassName?: unknown } | undefined)?.ingressClassName ??
        ing.metadata.annotations?.["kubernetes.io/ingress.class"];
      return typeof cls === "string" ? [cls] : [];
    },
  } satisfies IndexSpec<"Ingress">,
  /** Pods by the Node they run on. */
  podsByNode: {
    kinds: ["Pod"],
    keysOf: (pod: ObjectOf<"Pod">) => {
      const node = (pod.spec as { nodeName?: unknown } | undefined)?.nodeName;
      return typeof node === "string" ? [node] : [];
    },
  } satisfies IndexSpec<"Pod">,
} as const;

export type IndexName = keyof typeof INDEXES;

/** The kind of object an index returns. */
export type IndexedObject<I extends IndexName> = ObjectOf<(typeof INDEXES)[I]["kinds"][number]>;

/** Widened view of an index spec, for the store that runs them on any object. */
export function indexSpec(name: IndexName): IndexSpec<KindName> {
  return INDEXES[name] as unknown as IndexSpec<KindName>;
}

export type { AnyStoredObject };
