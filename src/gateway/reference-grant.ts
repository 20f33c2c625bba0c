/**
 * ReferenceGrant: a reference from one namespace to an object in another is
 * allowed only when a ReferenceGrant in the target's namespace lists the
 * referring kind and namespace in `from` and the target's kind (and name, if
 * given) in `to`.
 */
import type { ResourceView } from "../resources/view.ts";

export interface ReferenceFrom {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
}

export interface ReferenceTo {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

export function referenceAllowed(view: ResourceView, from: ReferenceFrom, to: ReferenceTo): boolean {
  if (from.namespace === to.namespace) return true;
  for (const grant of view.byIndex("referenceGrantsByTargetNamespace", to.namespace)) {
    const spec = grant.spec as
      | {
          from?: { group?: string; kind?: string; namespace?: string }[];
          to?: { group?: string; kind?: string; name?: string }[];
        }
      | undefined;
    const fromOk = (spec?.from ?? []).some(
      (f) => (f.group ?? "") === from.group && f.kind === from.kind && f.namespace === from.namespace,
    );
    if (!fromOk) continue;
    const toOk = (spec?.to ?? []).some(
      (t) =>
        (t.group ?? "") === to.group &&
        t.kind === to.kind &&
        (t.name === undefined || t.name === "" || t.name === to.name),
    );
    if (toOk) return true;
  }
  return false;
}
