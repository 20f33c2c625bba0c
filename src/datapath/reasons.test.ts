/** Keeps src/datapath/reasons.ts in sync with bpf/lib/reasons.h (and the mark ABI of bpf/lib/common.h). */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO_ROOT } from "./native.ts";
import {
  DIR,
  DIR_MAX,
  DROP,
  DROP_REASON_MAX,
  DROP_REASON_NAMES,
  EVENT,
  EVENT_NAMES,
  fromProxyAuthenticatedMark,
  fromProxyMark,
  MARK,
  toProxyMark,
  VERDICT,
  VERDICT_MAX,
} from "./reasons.ts";

function defines(file: string, prefix: string): Record<string, number> {
  const text = readFileSync(join(REPO_ROOT, "bpf/lib", file), "utf8");
  const out: Record<string, number> = {};
  for (const m of text.matchAll(
    new RegExp(`^#define ${prefix}([A-Z0-9_]+)\\s+(0x[0-9A-Fa-f]+|\\d+)`, "gm"),
  )) {
    out[m[1] as string] = Number(m[2]);
  }
  return out;
}

function withoutMax(table: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(table).filter(([k]) => k !== "MAX"));
}

describe("reasons.ts mirrors bpf/lib/reasons.h", () => {
  it("has the same verdicts, drop reasons, event types and directions", () => {
    expect(withoutMax(defines("reasons.h", "VERDICT_"))).toEqual(VERDICT);
    expect(defines("reasons.h", "VERDICT_").MAX).toBe(VERDICT_MAX);
    expect(withoutMax(defines("reasons.h", "DROP_REASON_"))).toEqual({});
    const drops = defines("reasons.h", "DROP_");
    expect(drops.REASON_MAX).toBe(DROP_REASON_MAX);
    delete drops.REASON_MAX;
    expect(drops).toEqual(DROP);
    expect(defines("reasons.h", "EVENT_")).toEqual(EVENT);
    expect(withoutMax(defines("reasons.h", "DIR_"))).toEqual(DIR);
    expect(defines("reasons.h", "DIR_").MAX).toBe(DIR_MAX);
  });

  it("names every drop reason and event type", () => {
    for (const v of Object.values(DROP)) expect(DROP_REASON_NAMES[v]).toBeTypeOf("string");
    for (const v of Object.values(EVENT)) expect(EVENT_NAMES[v]).toBeTypeOf("string");
    expect(Math.max(...Object.values(DROP))).toBeLessThan(DROP_REASON_MAX);
  });

  it("uses the mark ABI of bpf/lib/common.h (Cilium's)", () => {
    const marks = defines("common.h", "MARK_MAGIC_");
    expect(marks).toEqual({
      MASK: MARK.MAGIC_MASK,
      TO_PROXY: MARK.TO_PROXY,
      FROM_PROXY: MARK.FROM_PROXY,
      PROXY_REPLY: MARK.PROXY_REPLY,
      FROM_PROXY_AUTH: MARK.FROM_PROXY_AUTH,
    });
    // Cilium's well-known example: proxy port 15001 → 0x993a0200.
    expect(toProxyMark(15001)).toBe(0x993a0200);
    expect(fromProxyMark(1001)).toBe(0x03e90a00);
    expect(fromProxyAuthenticatedMark(1001)).toBe(0x03e90e00);
  });
});
