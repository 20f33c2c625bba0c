/**
 * The conformance runner's Envoy engine, end to end: a real Envoy 1.40 in the
 * runner's own network namespace answers an official test's requests, and
 * the cross-check with the simulator catches a simulator that lies about
 * Envoy and an Envoy that was given another configuration than the one the
 * simulator judged; a configuration Envoy rejects fails the test with Envoy's
 * error and the next test runs as usual. HTTPRoute requests, TLSRoute
 * connections (node:tls with SNI to TLS echo backends) and gRPC calls
 * (grpc-js to grpc-js echo servers) alike. (The whole suite on Envoy runs in
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

/** The probe's five runs of `test` (breaking `backend`), by mode. */
function probe(test: string, backend?: string): Record<string, ModeResult> {
  const run = spawnSync(
    join(REPO, "node_modules/.bin/node"),
    [join(REPO, "test/support/envoy-engine-probe.ts"), test, ...(backend === undefined ? [] : [backend])],
    { encoding: "utf8", timeout: 240_000 },
  );
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, ModeResult>;
}

/** The honest runs pass with requests and no disagreement; a NACK fails the test with Envoy's error. */
function expectHonestAndNack(out: Record<string, ModeResult>): void {
  for (const mode of ["honest", "honest-again"]) {
    expect(out[mode]?.passed, mode).toBe(true);
    expect(out[mode]?.requests, mode).toBeGreaterThan(0);
    expect(out[mode]?.disagreements, mode).toEqual([]);
  }
  expect(out["envoy-rejects"]?.passed).toBe(false);
  expect(out["envoy-rejects"]?.errors.join("\n")).toMatch(/Envoy rejected the configuration .*domain/i);
}

describe("conformance through real Envoy", () => {
  it.skipIf(noNamespace !== undefined)(
    "passes an official test with no disagreement, catches a lying simulator, a misconfigured Envoy and a NACK, and recovers",
    () => {
      const out = probe("HTTPRouteSimpleSameNamespace");
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

  it.skipIf(noNamespace !== undefined)(
    "plays a TLSRoute test as real TLS connections: passes honestly, fails when either side lies",
    () => {
      const out = probe("TLSRouteSimpleSameNamespace", "tcp-backend");
      expectHonestAndNack(out);
      // The passthrough backend answered over TLS it terminated itself, with the client's SNI.
      expect(out["simulator-wrong"]?.passed).toBe(false);
      expect(out["simulator-wrong"]?.disagreements[0]?.differences.join("\n")).toMatch(
        /simulator failed .*, Envoy connected to gateway-conformance-infra\/tcp-backend-\w+ \(backend TLS true, SNI "abc.example.com"\)/,
      );
      expect(out["envoy-wrong"]?.passed).toBe(false);
      expect(out["envoy-wrong"]?.disagreements[0]?.differences.join("\n")).toMatch(
        /simulator connected to gateway-conformance-infra\/tcp-backend-\w+ .*, Envoy failed/,
      );
    },
    300_000,
  );

  it.skipIf(noNamespace !== undefined)(
    "plays a GRPCRoute test as real gRPC calls: passes honestly, fails when either side lies",
    () => {
      const out = probe("GRPCRouteHeaderMatching", "grpc-infra-backend-v1");
      expectHonestAndNack(out);
      expect(out["simulator-wrong"]?.passed).toBe(false);
      expect(out["simulator-wrong"]?.disagreements[0]?.differences.join("\n")).toMatch(
        /backend: simulator no backend, Envoy gateway-conformance-infra\/grpc-infra-backend-v1-\w+/,
      );
      expect(out["envoy-wrong"]?.passed).toBe(false);
      expect(out["envoy-wrong"]?.disagreements[0]?.differences.join("\n")).toMatch(
        /gRPC code: simulator 0 \(OK\), Envoy [1-9]/,
      );
    },
    300_000,
  );
});
