/**
 * The isolation property, over random input sets: for a random subset of the
 * baseline teams and a random handful of hostile cases loaded together,
 * what the baseline objects produce (listeners, virtual hosts, clusters,
 * endpoints, statuses, node policy) is exactly what they produce without the
 * hostile objects. Seeded, so a failure names a reproducible trial.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { baselineFiles, type ManifestCase, manifestCases } from "../scripts/hostile-corpus.ts";
import { runFolder } from "./support/hostile-corpus-run.ts";

/** mulberry32: a small seeded generator, so every trial can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function write(dir: string, files: Record<string, string>, c?: ManifestCase, prefix = ""): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, prefix, path, ".."), { recursive: true });
    writeFileSync(join(dir, prefix, path), text);
  }
  for (const [link, target] of Object.entries(c?.symlinks ?? {})) {
    mkdirSync(join(dir, prefix, link, ".."), { recursive: true });
    symlinkSync(target, join(dir, prefix, link));
  }
}

describe("removing the bad objects never changes what the others produce", () => {
  it("holds for 25 random baseline subsets, each with 1 to 4 hostile cases loaded at once", async () => {
    // Symlink and size cases are covered one by one by the corpus test; here, the object-level ones.
    const hostile = manifestCases().filter((c) => c.symlinks === undefined && c.category !== "sizes");
    const base = baselineFiles();
    const teams = Object.keys(base).filter((p) => !p.endsWith("gateway.yaml"));
    const failures: string[] = [];
    for (let trial = 0; trial < 25; trial++) {
      const next = random(1000 + trial);
      const subset: Record<string, string> = { "baseline/gateway.yaml": base["baseline/gateway.yaml"] ?? "" };
      for (const team of teams) if (next() < 0.7) subset[team] = base[team] ?? "";
      const picked = Array.from(
        { length: 1 + Math.floor(next() * 4) },
        () => hostile[Math.floor(next() * hostile.length)],
      );
      const alone = mkdtempSync(join(tmpdir(), "strait-prop-"));
      const mixed = mkdtempSync(join(tmpdir(), "strait-prop-"));
      try {
        write(alone, subset);
        write(mixed, subset);
        picked.forEach((c, k) => {
          if (c !== undefined) write(mixed, c.files as Record<string, string>, c, `h${k}`);
        });
        const expected = await runFolder(alone);
        const got = await runFolder(mixed, expected.names);
        if (JSON.stringify(got.projection) !== JSON.stringify(expected.projection))
          failures.push(
            `trial ${trial} (${Object.keys(subset).join(", ")} + ${picked.map((c) => c?.id).join(", ")})`,
          );
      } finally {
        rmSync(alone, { recursive: true, force: true });
        rmSync(mixed, { recursive: true, force: true });
      }
    }
    expect(failures).toEqual([]);
  }, 300_000);
});
