import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildCli } from "./build-cli.ts";

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, "..");
const NODE = join(ROOT, "node_modules/.bin/node");
// Its own folder beside build/cli/, so the test neither waits for nor disturbs the bundle bin/strait runs.
const OUT = join(ROOT, "build", `cli-test-${process.pid}`);
const QUICKSTART = join(ROOT, "examples/quickstart");

async function strait(entry: string, args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return run(NODE, [entry, ...args], { cwd: ROOT, maxBuffer: 64 * 1024 * 1024 });
}

/** Status output without the times it was computed at. */
function withoutTimes(text: string): string {
  return text.replace(/"lastTransitionTime": "[^"]+"/g, '"lastTransitionTime": "-"');
}

describe("the bundled CLI (scripts/build-cli.ts)", () => {
  beforeAll(async () => {
    await buildCli(OUT);
  }, 120_000);
  afterAll(() => rmSync(OUT, { recursive: true, force: true }));

  const bundle = () => join(OUT, "main.js");
  const source = join(ROOT, "src/cli/main.ts");

  it("answers version from the checkout's package.json (files found from the bundle's folder)", async () => {
    const [b, s] = await Promise.all([
      strait(bundle(), ["version", "-o", "json"]),
      strait(source, ["version", "-o", "json"]),
    ]);
    expect(JSON.parse(b.stdout)).toEqual(JSON.parse(s.stdout));
    expect(JSON.parse(b.stdout).strait).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("translates the quickstart to exactly what the sources print (Envoy protos read from node_modules)", async () => {
    const [b, s] = await Promise.all([
      strait(bundle(), ["translate", "-f", QUICKSTART, "-o", "json"]),
      strait(source, ["translate", "-f", QUICKSTART, "-o", "json"]),
    ]);
    expect(b.stdout.length).toBeGreaterThan(1000);
    expect(b.stdout).toBe(s.stdout);
    expect(b.stderr).toBe(""); // no deprecation warnings (punycode) or other noise
  }, 60_000);

  it("reports the same statuses and the same schema errors as the sources", async () => {
    const [b, s] = await Promise.all([
      strait(bundle(), ["status", "-f", QUICKSTART, "-o", "json"]),
      strait(source, ["status", "-f", QUICKSTART, "-o", "json"]),
    ]);
    expect(withoutTimes(b.stdout)).toBe(withoutTimes(s.stdout));
    const dir = mkdtempSync(join(tmpdir(), "strait-bundle-"));
    const bad = join(dir, "bad.yaml");
    writeFileSync(
      bad,
      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: {name: r, namespace: default}\n" +
        "spec:\n  rules:\n  - matches:\n    - path: {type: Sideways, value: /}\n",
    );
    const [bb, sb] = await Promise.all([
      strait(bundle(), ["status", "-f", bad]).catch((e: { code: number; stderr: string }) => e),
      strait(source, ["status", "-f", bad]).catch((e: { code: number; stderr: string }) => e),
    ]);
    expect(bb).toMatchObject({ code: 1 });
    expect((bb as { stderr: string }).stderr).toBe((sb as { stderr: string }).stderr);
    expect((bb as { stderr: string }).stderr).toMatch(/error: .*Sideways|error: .*path\.type/);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);
});
