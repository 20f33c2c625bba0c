/**
 * The real Envoy (build/bin/envoy, 1.40.0) accepts the L7 configuration the
 * policy stage makes: for every golden policy case with L7 rules, its
 * listeners and cluster go into a bootstrap as static resources and
 * `envoy --mode validate` must pass. (Serving them over xDS is the
 * end-to-end test's part; this one checks every case, quickly.)
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { DEFAULT_ENVOY_BINARY } from "../src/envoy/binary.ts";

const ROOT = join(import.meta.dirname, "../testdata/policy");
const cases = readdirSync(ROOT).filter((d) => existsSync(join(ROOT, d, "envoy.yaml")));
const dir = mkdtempSync(join(tmpdir(), "strait-l7-validate-"));

describe("the node's Envoy accepts the L7 policy configuration", () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("has cases with L7 rules", () => expect(cases.length).toBeGreaterThanOrEqual(4));

  it.each(cases)(
    "%s",
    (name) => {
      const perNode = parse(readFileSync(join(ROOT, name, "envoy.yaml"), "utf8")) as Record<
        string,
        { listeners: Record<string, unknown>; clusters: Record<string, unknown> }
      >;
      for (const [node, r] of Object.entries(perNode)) {
        const file = join(dir, `${name}-${node}.json`);
        // The access log's folder must exist (on a node, the agent and Envoy share /run/strait).
        const config = JSON.stringify({
          node: { id: `validate-${node}`, cluster: "strait" },
          static_resources: { listeners: Object.values(r.listeners), clusters: Object.values(r.clusters) },
        }).replaceAll("/run/strait/envoy-access.log", join(dir, "access.log"));
        writeFileSync(file, config);
        const run = spawnSync(
          DEFAULT_ENVOY_BINARY,
          ["--mode", "validate", "-c", file, "--disable-hot-restart"],
          {
            encoding: "utf8",
            timeout: 60_000,
          },
        );
        expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
      }
    },
    120_000,
  );
});
