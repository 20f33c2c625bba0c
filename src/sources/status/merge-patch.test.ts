import { describe, expect, it } from "vitest";
import { canonicalJson, createMergePatch, sameJson } from "./merge-patch.ts";

/** RFC 7386's apply, written out here so the test does not trust the code under test. */
function apply(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target) ? { ...(target as object) } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = apply(out[k], v);
  }
  return out;
}

describe("merge patches for status", () => {
  it("compares JSON regardless of key order", () => {
    expect(sameJson({ a: 1, b: { c: [1, { d: 2, e: 3 }] } }, { b: { c: [1, { e: 3, d: 2 }] }, a: 1 })).toBe(
      true,
    );
    expect(sameJson({ a: [1, 2] }, { a: [2, 1] })).toBe(false);
    expect(canonicalJson({ b: 1, a: undefined })).toBe('{"b":1}');
  });

  it("patches only what changed, nulls what is gone, replaces lists whole, and applies to exactly the desired status", () => {
    const current = {
      addresses: [{ type: "IPAddress", value: "10.0.0.1" }],
      conditions: [{ type: "Accepted", status: "True" }],
      listeners: { keep: 1, drop: 2 },
      legacy: "x",
    };
    const desired = {
      addresses: [{ type: "IPAddress", value: "10.0.0.1" }],
      conditions: [{ type: "Accepted", status: "False" }],
      listeners: { keep: 1, added: 3 },
    };
    const patch = createMergePatch(current, desired);
    expect(patch).toEqual({
      conditions: [{ type: "Accepted", status: "False" }],
      listeners: { drop: null, added: 3 },
      legacy: null,
    });
    expect(apply(current, patch)).toEqual(desired);
    expect(createMergePatch(undefined, desired)).toEqual(desired);
    expect(createMergePatch(desired, desired)).toEqual({});
  });
});
