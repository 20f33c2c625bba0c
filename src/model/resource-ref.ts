/**
 * A reference to the Kubernetes object a model element came from. Every model
 * element records its sources so status and ownership are always known.
 */
export interface ResourceRef {
  /** API group; "" for the core group. */
  readonly group: string;
  readonly kind: string;
  /** "" for cluster-scoped objects. */
  readonly namespace: string;
  readonly name: string;
}

/** `kind/namespace/name` (or `kind/name` when cluster-scoped), e.g. for logs and map keys. */
export function formatResourceRef(ref: ResourceRef): string {
  return ref.namespace === "" ? `${ref.kind}/${ref.name}` : `${ref.kind}/${ref.namespace}/${ref.name}`;
}
