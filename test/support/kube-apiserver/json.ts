/**
 * JSON helpers of the test API server: RFC 7386 merge patch, and key-sorted
 * serialization, which is what the real server does for custom resources
 * (they are stored as unstructured maps, and Go encodes maps with sorted keys),
 * so clients must not compare statuses by their key order.
 */

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Applies a JSON merge patch (RFC 7386) to a value and returns the result. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

/** The value with every object's keys sorted, recursively. */
export function sortKeys<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v) => sortKeys(v)) as T;
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key]);
  return out as T;
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}
