import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { REPO, runArgs, StraitProcess } from "./support/strait-process.ts";

const running: StraitProcess[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop("SIGKILL");
});

async function startStandalone(dir: string): Promise<{ proc: StraitProcess; base: string }> {
  // Free ports only, and no managed Envoy: these tests are about the controller (the Envoy tests are in envoy.e2e).
  const proc = new StraitProcess(runArgs(dir, { extra: ["--log-level", "debug"] }));
  running.push(proc);
  const line = await proc.waitForLog((l) => l.msg.startsWith("operations server listening"));
  return { proc, base: `http://${String(line.address)}` };
}

async function metricValue(base: string, name: string): Promise<number | undefined> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? undefined : Number(line.split(" ").at(-1));
}

describe("strait run -f (standalone)", () => {
  it("refuses a bad duration, address pool or manifests path before anything starts: the flag and the value on stderr, exit 1", async () => {
    const quickstart = join(REPO, "examples/quickstart");
    for (const [manifests, flags, error] of [
      [
        quickstart,
        ["--lease-renew-deadline", "ten seconds"],
        '--lease-renew-deadline must be a duration such as 15s or 500ms, got "ten seconds"',
      ],
      // Accepted before, every Gateway then said its pool was exhausted.
      [quickstart, ["--address-pool", "10.0.0.0/33"], '--address-pool: "10.0.0.0/33" is not an IPv4 address'],
      // Served an empty configuration before (an Envoy connecting would drop every listener).
      ["/nonexistent/manifests", [], "-f /nonexistent/manifests: no such file or folder"],
    ] as const) {
      const proc = new StraitProcess(runArgs(manifests, { extra: [...flags] }));
      running.push(proc);
      expect(await proc.exited, error).toBe(1);
      expect(proc.stderr.join("\n")).toContain(error);
      expect(proc.logs.some((l) => l.msg.startsWith("operations server listening"))).toBe(false);
    }
  });

  it("loads the quickstart, becomes ready, serves metrics, and stops on SIGTERM", async () => {
    const { proc, base } = await startStandalone(join(REPO, "examples/quickstart"));
    const loaded = await proc.waitForLog((l) => l.msg === "manifests loaded");
    expect(loaded.objects).toBe(9);
    expect(loaded.invalid).toBe(0);

    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    let ready = await fetch(`${base}/readyz`);
    for (let i = 0; i < 50 && ready.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 100));
      ready = await fetch(`${base}/readyz`);
    }
    expect(ready.status).toBe(200);
    expect(await metricValue(base, 'strait_objects{kind="HTTPRoute"}')).toBe(1);
    expect(await metricValue(base, 'strait_reconcile_total{result="success"}')).toBeGreaterThanOrEqual(1);

    expect(await proc.stop("SIGTERM")).toBe(0);
    expect(proc.logs.at(-1)?.msg).toBe("stopped");
  });

  it("reports an invalid manifest in the log and in /metrics, and keeps serving the rest", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-run-"));
    cpSync(join(REPO, "examples/quickstart"), dir, { recursive: true });
    writeFileSync(
      join(dir, "broken.yaml"),
      "apiVersion: v1\nkind: Service\nmetadata: { name: b, namespace: shop }\nspec: { ports: [{ port: nope }] }\n",
    );
    const { proc, base } = await startStandalone(dir);
    const error = await proc.waitForLog((l) => l.msg.startsWith("invalid manifest"));
    expect(error.msg).toContain("broken.yaml#0 Service shop/b: spec.ports[0].port");
    expect(await metricValue(base, "strait_invalid_objects")).toBe(1);
    expect(await metricValue(base, 'strait_objects{kind="Service"}')).toBe(2);

    writeFileSync(
      join(dir, "broken.yaml"),
      "apiVersion: v1\nkind: Service\nmetadata: { name: b, namespace: shop }\nspec: { ports: [{ port: 81 }] }\n",
    );
    await proc.waitForLog((l) => l.msg === "manifests loaded" && l.objects === 10);
    expect(await metricValue(base, "strait_invalid_objects")).toBe(0);
  });
});

describe("strait run -f: statuses", () => {
  it("serves statuses on the local API and follows edits (generation, observedGeneration, lastTransitionTime)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-run-"));
    cpSync(join(REPO, "examples/quickstart"), dir, { recursive: true });
    const { proc, base } = await startStandalone(dir);
    await proc.waitForLog((l) => l.msg === "manifests loaded");
    type Entry = {
      status: {
        parents: {
          conditions: {
            type: string;
            status: string;
            reason: string;
            observedGeneration: number;
            lastTransitionTime: string;
          }[];
        }[];
      };
    };
    const routeStatus = async (): Promise<Entry | undefined> => {
      const res = await fetch(`${base}/api/v1/statuses?kind=HTTPRoute&namespace=shop&name=shop`);
      return ((await res.json()) as Entry[])[0];
    };
    let first: Entry | undefined;
    for (let i = 0; i < 50 && first === undefined; i++) {
      first = await routeStatus();
      if (first === undefined) await new Promise((r) => setTimeout(r, 100));
    }
    const accepted = first?.status.parents[0]?.conditions.find((c) => c.type === "Accepted");
    expect(accepted).toMatchObject({ status: "True", reason: "Accepted", observedGeneration: 1 });

    // Point the route at a Service that does not exist: ResolvedRefs goes False, Accepted stays True.
    const file = join(dir, "app.yaml");
    writeFileSync(
      file,
      readFileSync(file, "utf8").replace(
        "name: landing\n          port: 80",
        "name: gone\n          port: 80",
      ),
    );
    let updated: Entry | undefined;
    for (let i = 0; i < 100; i++) {
      updated = await routeStatus();
      if (updated?.status.parents[0]?.conditions.find((c) => c.type === "ResolvedRefs")?.status === "False")
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const conditions = updated?.status.parents[0]?.conditions ?? [];
    expect(conditions.find((c) => c.type === "ResolvedRefs")).toMatchObject({
      status: "False",
      reason: "BackendNotFound",
      observedGeneration: 2,
    });
    const stillAccepted = conditions.find((c) => c.type === "Accepted");
    expect(stillAccepted).toMatchObject({ status: "True", observedGeneration: 2 });
    expect(stillAccepted?.lastTransitionTime).toBe(accepted?.lastTransitionTime);
  });
});
