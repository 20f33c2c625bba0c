/**
 * `make conformance-official` in CI: the official Gateway API v1.6.1 suite (its
 * own Go test binary) against strait in cluster mode on the real control plane,
 * with a real Envoy and the echo pods on the node stand-in
 * (scripts/conformance-official.ts). About two minutes with the fixtures cached.
 * The report goes to a temporary file, so the committed one
 * (conformance/reports/v1.6.1/) changes only when someone re-runs make.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { SUPPORTED_FEATURES } from "../src/gateway/features.ts";
import { NODE_SKIP_REASON } from "./support/control-plane/node-stand-in.ts";
import { REPO } from "./support/strait-process.ts";

const dir = mkdtempSync(join(tmpdir(), "strait-conformance-official-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Status {
  readonly result: string;
  readonly statistics: { readonly Passed: number; readonly Failed: number; readonly Skipped: number };
  readonly supportedFeatures?: readonly string[];
  readonly unsupportedFeatures?: readonly string[];
}

describe("the official conformance suite (make conformance-official)", () => {
  it.skipIf(NODE_SKIP_REASON !== undefined)(
    `GATEWAY-HTTP (and each profile whose routes strait claims) passes core and every extended test of the claimed features (${NODE_SKIP_REASON ?? "root"})`,
    async () => {
      const report = join(dir, "report.yaml");
      const output: string[] = [];
      const code = await new Promise<number | null>((resolve) => {
        const child = spawn(
          join(REPO, "node_modules/.bin/node"),
          [join(REPO, "scripts/conformance-official.ts"), "--report", report, "--logs", join(dir, "logs")],
          { stdio: ["ignore", "pipe", "pipe"] },
        );
        for (const s of [child.stdout, child.stderr]) s.on("data", (c: Buffer) => output.push(c.toString()));
        child.on("exit", resolve);
      });
      const tail = output.join("").split("\n").slice(-60).join("\n");
      expect(code, tail).toBe(0);

      const parsed = parse(readFileSync(report, "utf8")) as {
        gatewayAPIVersion: string;
        profiles: { name: string; core: Status; extended?: Status }[];
      };
      expect(parsed.gatewayAPIVersion).toBe("v1.6.1");
      expect(parsed.profiles.map((p) => p.name)).toContain("GATEWAY-HTTP");
      const claimed = new Set(SUPPORTED_FEATURES);
      for (const profile of parsed.profiles) {
        for (const status of [profile.core, ...(profile.extended === undefined ? [] : [profile.extended])]) {
          expect(status.result, `${profile.name}\n${tail}`).toBe("success");
          expect(status.statistics.Failed).toBe(0);
          expect(status.statistics.Skipped).toBe(0);
          expect(status.statistics.Passed).toBeGreaterThan(0);
        }
        // Every extended feature strait claims was run (the suite took them from the GatewayClass).
        expect(profile.extended?.unsupportedFeatures?.filter((f) => claimed.has(f)) ?? []).toEqual([]);
        expect((profile.extended?.supportedFeatures ?? []).every((f) => claimed.has(f))).toBe(true);
      }
    },
    20 * 60_000,
  );
});
