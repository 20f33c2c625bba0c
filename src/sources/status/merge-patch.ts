/**
 * JSON comparison and merge patches (RFC 7386) for status writes. Comparison
 * ignores key order: the API server returns custom resources with their keys
 * sorted (they are stored as unstructured maps), so a status strait wrote
 * comes back in a different order and must still count as unchanged.
 */

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** JSON text with object keys sorted and undefined members left out. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (!isPlainObject(v)) return v;
    const sorted: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) sorted[k] = v[k];
    return sorted;
  });
}

export function sameJson(a: unknown, b: unknown): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * The merge patch that turns `current` into `desired`: changed members,
 * `null` for members that are gone, nested objects patched member by member;
 * arrays are replaced whole (a merge patch cannot edit a list).
 */
export function createMergePatch(current: unknown, desired: unknown): unknown {
  if (!isPlainObject(current) || !isPlainObject(desired)) return desired;
  const patch: Record<string, unknown> = {};
  for (const key of Object.keys(current)) {
    if (desired[key] === undefined) patch[key] = null;
  }
  for (const [key, value] of Object.entries(desired)) {
    if (value === undefined) continue;
    const before = current[key];
    if (before === undefined) patch[key] = value;
    else if (!sameJson(before, value)) {
      patch[key] = isPlainObject(before) && isPlainObject(value) ? createMergePatch(before, value) : value;
    }
  }
  return patch;
}
