/**
 * A large manifest is parsed off the event loop, whether it is in the folder
 * at start (the first load, with `--crds` schemas too) or written into the
 * folder of a live `strait run -f`: /healthz keeps answering while it is read,
 * and its content is applied afterwards (issue 16: a 200 MB file held /healthz
 * 22.8 s).
 * Machines are noisy, so the bound is a ratio of the load time measured in the
 * same run, not a wall-clock limit.
 */
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { gatewayApiDir } from "./support/gateway-api-data.ts";
import { runArgs, StraitProcess } from "./support/strait-process.ts";

const running: StraitProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop("SIGKILL");
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const service = (name: string) =>
  `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: app }\nspec: { ports: [{ port: 80 }] }\n`;

/** About `megabytes` MB of Deployments (read and parsed, kept aside as not strait's), then one Service. */
function largeManifest(megabytes: number): string {
  const parts: string[] = [];
  const padding = "x".repeat(60);
  let size = 0;
  for (let i = 0; size < megabytes * 1e6; i++) {
    const labels = Array.from({ length: 40 }, (_, j) => `      l${j}: ${padding}${i}`).join("\n");
    const doc = `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d${i}\n  namespace: app\n  labels:\n${labels}\nspec:\n  replicas: 1\n`;
    parts.push(doc);
    size += doc.length;
  }
  parts.push(service("after-the-large-part"));
  return parts.join("---\n");
}

/** /healthz (and /readyz) answer times until `done()`, a probe every 20 ms. */
async function probeUntil(
  base: string,
  done: () => boolean,
): Promise<{ latencies: number[]; readyz: { status: number; body: string }[] }> {
  const latencies: number[] = [];
  const readyz: { status: number; body: string }[] = [];
  while (!done()) {
    const t = performance.now();
    const r = await fetch(`${base}/healthz`);
    await r.arrayBuffer();
    expect(r.status).toBe(200);
    latencies.push(performance.now() - t);
    const ready = await fetch(`${base}/readyz`);
    readyz.push({ status: ready.status, body: await ready.text() });
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { latencies, readyz };
}

describe("strait run -f with a large manifest", () => {
  it("answers /healthz while a large file is parsed at start, with --crds, and is ready once it is applied", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-large-start-"));
    dirs.push(dir);
    writeFileSync(join(dir, "small.yaml"), service("small"));
    // And a route the CRD schemas refuse (a port out of range), after the large part: checked there too.
    const badRoute =
      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: bad, namespace: app }\nspec: { rules: [{ backendRefs: [{ name: small, port: 99999 }] }] }\n";
    const text = `${largeManifest(24)}---\n${badRoute}`;
    writeFileSync(join(dir, "large.yaml"), text);
    const proc = new StraitProcess(
      runArgs(dir, { extra: ["--crds", join(gatewayApiDir(), "config/crd/standard")] }),
    );
    running.push(proc);
    const loaded = proc.waitForLog((l) => l.msg === "manifests loaded", 120_000);
    let done = false;
    void loaded.then(() => {
      done = true;
    });
    const listening = await proc.waitForLog((l) => l.msg.startsWith("operations server listening"), 60_000);
    const base = `http://${String(listening.address)}`;
    const start = performance.now();
    const { latencies, readyz } = await probeUntil(base, () => done);
    const loadMs = performance.now() - start;
    const worst = Math.max(...latencies);
    console.log(
      `large manifest at start: ${(text.length / 1e6).toFixed(1)} MB loaded in ${loadMs.toFixed(0)} ms after the ops server listened; ` +
        `${latencies.length} /healthz probes meanwhile, slowest ${worst.toFixed(0)} ms`,
    );
    // Parsed on the event loop, the first probe would wait for (nearly) the whole load.
    expect(latencies.length).toBeGreaterThanOrEqual(5);
    expect(worst).toBeLessThan(loadMs / 4);
    // Not ready while the first load runs, and saying why.
    expect(readyz[0]?.status).toBe(503);
    expect(JSON.parse(readyz[0]?.body ?? "{}")).toMatchObject({
      failed: ["sources-synced", "reconciled", "xds-snapshot"],
    });

    expect((await loaded).objects).toBe(2);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^strait_objects\{kind="Service"\} 2$/m);
    expect(metrics).toMatch(/^strait_invalid_objects 1$/m);
    let ready = await fetch(`${base}/readyz`);
    for (let i = 0; i < 100 && ready.status !== 200; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      ready = await fetch(`${base}/readyz`);
    }
    expect(ready.status).toBe(200);
  }, 180_000);

  it("answers /healthz while a large file is parsed, then applies the file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-large-"));
    dirs.push(dir);
    writeFileSync(join(dir, "small.yaml"), service("small"));
    const proc = new StraitProcess(runArgs(dir));
    running.push(proc);
    const listening = await proc.waitForLog((l) => l.msg.startsWith("operations server listening"));
    const base = `http://${String(listening.address)}`;
    await proc.waitForLog((l) => l.msg === "manifests loaded" && l.objects === 1);

    // Written under a hidden name (not read) and renamed in, so the source sees the whole file at once.
    const text = largeManifest(24);
    writeFileSync(join(dir, ".large.yaml.tmp"), text);
    const loaded = proc.waitForLog((l) => l.msg === "manifests loaded" && l.objects === 2, 120_000);
    let done = false;
    void loaded.then(() => {
      done = true;
    });
    const start = performance.now();
    renameSync(join(dir, ".large.yaml.tmp"), join(dir, "large.yaml"));
    const latencies: number[] = [];
    while (!done) {
      const t = performance.now();
      const r = await fetch(`${base}/healthz`);
      await r.arrayBuffer();
      expect(r.status).toBe(200);
      latencies.push(performance.now() - t);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const loadMs = performance.now() - start;
    const worst = Math.max(...latencies);
    console.log(
      `large manifest: ${(text.length / 1e6).toFixed(1)} MB loaded in ${loadMs.toFixed(0)} ms; ` +
        `${latencies.length} /healthz probes meanwhile, slowest ${worst.toFixed(0)} ms`,
    );
    // Parsed on the event loop, the slowest probe would wait for (nearly) the whole load.
    expect(latencies.length).toBeGreaterThanOrEqual(5);
    expect(worst).toBeLessThan(loadMs / 4);

    // And the file was applied: the Service after the large part is served.
    const objects = await (await fetch(`${base}/metrics`)).text();
    expect(objects).toMatch(/^strait_objects\{kind="Service"\} 2$/m);
  }, 180_000);
});
