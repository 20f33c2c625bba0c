/**
 * Objects from the API server, made ready for the store. The server has
 * validated them against their schemas already, so strait does not again; but
 * a malformed object (a broken stream, a buggy aggregated API) must never reach
 * the pipeline or crash the process, so the shape the store relies on is
 * checked here. List items come without apiVersion and kind, which are filled
 * in; managedFields are dropped, since nothing reads them and they are often
 * the largest part of an object.
 */
import { apiVersionOf, type KindInfo } from "../../resources/kinds.ts";
import type { AnyStoredObject } from "../../resources/objects.ts";

export type StoredObjectResult =
  | { readonly ok: true; readonly object: AnyStoredObject }
  | { readonly ok: false; readonly reason: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function storedObjectFrom(info: KindInfo, raw: unknown): StoredObjectResult {
  if (!isRecord(raw)) return { ok: false, reason: "not a JSON object" };
  const meta = raw.metadata;
  if (!isRecord(meta)) return { ok: false, reason: "metadata is missing" };
  if (typeof meta.name !== "string" || meta.name === "")
    return { ok: false, reason: "metadata.name is missing" };
  if (raw.kind !== undefined && raw.kind !== info.kind) {
    return { ok: false, reason: `kind is ${String(raw.kind)}, expected ${info.kind}` };
  }
  if (raw.apiVersion !== undefined && raw.apiVersion !== apiVersionOf(info)) {
    return { ok: false, reason: `apiVersion is ${String(raw.apiVersion)}, expected ${apiVersionOf(info)}` };
  }
  const { managedFields: _managed, namespace, ...metadata } = meta;
  if (info.namespaced && (typeof namespace !== "string" || namespace === "")) {
    return { ok: false, reason: "metadata.namespace is missing" };
  }
  if (!info.namespaced && namespace !== undefined && namespace !== "") {
    return { ok: false, reason: "a cluster-scoped object has a namespace" };
  }
  if (metadata.resourceVersion !== undefined && typeof metadata.resourceVersion !== "string") {
    return { ok: false, reason: "metadata.resourceVersion is not a string" };
  }
  const object = {
    ...raw,
    apiVersion: apiVersionOf(info),
    kind: info.kind,
    metadata: info.namespaced ? { ...metadata, namespace } : metadata,
  };
  return { ok: true, object: object as unknown as AnyStoredObject };
}

/** `namespace/name` of whatever came in, for log lines about malformed objects. */
export function describeRaw(raw: unknown): string {
  const meta = isRecord(raw) && isRecord(raw.metadata) ? raw.metadata : {};
  const name = typeof meta.name === "string" ? meta.name : "?";
  return typeof meta.namespace === "string" && meta.namespace !== "" ? `${meta.namespace}/${name}` : name;
}

/** metadata.resourceVersion of an event object (a bookmark carries nothing else). */
export function resourceVersionOf(raw: unknown): string | undefined {
  const rv = isRecord(raw) && isRecord(raw.metadata) ? raw.metadata.resourceVersion : undefined;
  return typeof rv === "string" && rv !== "" ? rv : undefined;
}
