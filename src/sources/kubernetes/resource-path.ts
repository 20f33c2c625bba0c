/** REST paths of the kinds strait reads: `/api/v1/...` for the core group, `/apis/<group>/<version>/...` else. */
import type { KindInfo } from "../../resources/kinds.ts";

export interface ResourceLocation {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly namespaced: boolean;
}

/**
 * The collection (cluster-wide for lists and watches of every namespace), or
 * one object with an optional subresource such as `status`.
 */
export function resourcePath(
  info: ResourceLocation | KindInfo,
  object?: { readonly namespace?: string; readonly name: string; readonly subresource?: string },
): string {
  const base = info.group === "" ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  if (object === undefined) return `${base}/${info.plural}`;
  const ns =
    info.namespaced && object.namespace !== undefined && object.namespace !== ""
      ? `/namespaces/${encodeURIComponent(object.namespace)}`
      : "";
  const sub = object.subresource === undefined ? "" : `/${object.subresource}`;
  return `${base}${ns}/${info.plural}/${encodeURIComponent(object.name)}${sub}`;
}

/** The collection of one namespace (to create an object in it). */
export function namespacedCollectionPath(info: ResourceLocation, namespace: string): string {
  const base = info.group === "" ? `/api/${info.version}` : `/apis/${info.group}/${info.version}`;
  return `${base}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
}
