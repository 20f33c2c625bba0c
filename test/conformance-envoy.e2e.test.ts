/**
 * The conformance runner's Envoy engine, end to end: a real Envoy 1.40 in the
 * runner's own network namespace answers an official test's requests, and
 * the cross-check with the simulator catches a simulator that lies about
 * Envoy and an Envoy that was given another configuration than the one the
 * simulator judged; a configuration Envoy rejects fails the test with Envoy's
 * error and the next test runs as usual. (The whole suite on Envoy runs in
 * `npm run conformance`.)
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./support/strait-process.ts";

interface ModeResult {
  passed: boolean;
  requests: number;
  disagreements: { test: string; request: string; differences: string[] }[];
  errors: string[];
}

/** The engine needs a network namespace of its own (unshare with a user namespace): not every machine allows one. */
const unshare = spawnSync("unshare", ["--map-root-user", "--net", "true"], { encoding: "utf8" });
const noNamespace =
  unshare.status === 0
    ? undefined
    : `cannot create a network namespace: ${unshare.stderr || unshare.error?.message}`;

describe("conformance through real Envoy", () => {
  it.skipIf(noNamespace !== undefined)(
    "passes an official test with no disagreement, catches a lying simulator, a misconfigured Envoy and a NACK, and recovers",
    () => {
      const run = spawnSync(
        join(REPO, "node_modules/.bin/node"),
        [join(REPO, "test/support/envoy-engine-probe.ts"), "HTTPRouteSimpleSameNamespace"],
        { encoding: "utf8", timeout: 240_000 },
      );
      expect(run.status, run.stderr).toBe(0);
      const out = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, ModeResult>;
      expect(out.honest?.passed).toBe(true);
      expect(out.honest?.requests).toBeGreaterThan(0);
      expect(out.honest?.disagreements).toEqual([]);

      expect(out["simulator-wrong"]?.passed).toBe(false);
      expect(out["simulator-wrong"]?.disagreements[0]?.differences).toContain(
        "status: simulator 500, Envoy 200",
      );

      expect(out["envoy-wrong"]?.passed).toBe(false);
      expect(out["envoy-wrong"]?.disagreements[0]?.differences).toContain("status: simulator 200, Envoy 500");

      expect(out["envoy-rejects"]?.passed).toBe(false);
      expect(out["envoy-rejects"]?.errors.join("\n")).toMatch(/Envoy rejected the configuration .*domain/i);
      expect(out["honest-again"]?.passed).toBe(true);
      expect(out["honest-again"]?.disagreements).toEqual([]);
    },
    300_000,
  );
});
