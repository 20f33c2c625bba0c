/**
 * `npm run bench:translate`: the Gateway API issue's configuration (100
 * Gateways × 2 listeners, 5,000 HTTPRoutes × 4 rules × 2 backends, 5,000
 * Services × 10 endpoints) through the controller's pipeline, as `strait run`
 * drives it: a cold full translation, the statuses written back into the
 * store, then one HTTPRoute changed at a time (each pass followed by its
 * status write-back). Prints JSON: times, the Envoy output's size, peak heap.
 * Run with --expose-gc (the npm script does) for a clean heap baseline.
 * `--routes N` scales the configuration as bench/manifests.ts does (one Gateway
 * per 50 routes, one Service per route), e.g. `--routes 50000`.
 * `--changes N` sets the number of one-route changes (100), `--no-warm` skips
 * the warm full pass, and `--profile` takes a CPU profile (node:inspector) of
 * the change passes only and prints where their time goes, by self time per
 * function and per file.
 */
import { Session } from "node:inspector/promises";
import { PipelineCache, runPipeline } from "../src/controller/pipeline.ts";
import { LocalStatusWriter } from "../src/sources/status/local-status-writer.ts";
import { generate, ISSUE_SIZE, route } from "./generate.ts";
import { sizeFor } from "./manifests.ts";

const flagValue = (name: string) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
};
const CHANGES = Number(flagValue("--changes") ?? 100);
const PROFILE = process.argv.includes("--profile");
const WARM = !process.argv.includes("--no-warm");
const routesFlag = process.argv.indexOf("--routes");
const SIZE = routesFlag < 0 ? ISSUE_SIZE : sizeFor(Number(process.argv[routesFlag + 1]));
const gc = (globalThis as { gc?: () => void }).gc;

function heapMiB(): number {
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

const round = (n: number) => Math.round(n * 10) / 10;

interface CpuProfile {
  readonly nodes: readonly {
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }[];
  readonly samples?: readonly number[] | undefined;
  readonly timeDeltas?: readonly number[] | undefined;
}

/** Self time (ms) by function and by file, the 15 largest of each, from a V8 CPU profile. */
function profileSummary(p: CpuProfile) {
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const fns = new Map<string, number>();
  const files = new Map<string, number>();
  const samples = p.samples ?? [];
  samples.forEach((id, i) => {
    const frame = byId.get(id);
    // The profiler's own stop call and idle time are not the passes'.
    if (frame?.url === "node:inspector" || frame?.functionName === "(idle)") return;
    const ms = (p.timeDeltas?.[i] ?? 0) / 1000;
    const file = frame?.url.replace(/^.*\/(src|node_modules)\//, "$1/") || "(native)";
    const fn = `${frame?.functionName || "(anonymous)"} ${file}:${(frame?.lineNumber ?? 0) + 1}`;
    fns.set(fn, (fns.get(fn) ?? 0) + ms);
    files.set(file, (files.get(file) ?? 0) + ms);
  });
  const top = (m: Map<string, number>) =>
    Object.fromEntries(
      [...m]
        .sort((a, b) => b[1] - a[1])
        .slice(0, 15)
        .map(([k, v]) => [k, Math.round(v)]),
    );
  const total = [...files.values()].reduce((a, b) => a + b, 0);
  return { totalMs: Math.round(total), byFunction: top(fns), byFile: top(files) };
}

const generateStart = performance.now();
const store = generate(SIZE);
const generateMs = performance.now() - generateStart;
gc?.();
const baseHeap = heapMiB();
let peak = baseHeap;
// Sampled between passes and right after each one; a timer cannot fire inside a synchronous pass.
const sample = () => {
  peak = Math.max(peak, heapMiB());
};

const statuses = new LocalStatusWriter(store);
const options = {
  now: new Date("2026-01-01T00:00:00Z"),
  addressPool: ["10.200.0.0/16"],
  cache: new PipelineCache(),
};
const t0 = performance.now();
const first = runPipeline(store, options);
const fullMs = performance.now() - t0;
sample();
const written = await statuses.write(first.statuses);

// The pass after the first write-back sees every route with its new status.
const t1 = performance.now();
await statuses.write(runPipeline(store, options).statuses);
const afterWriteBackMs = performance.now() - t1;
sample();

// Settle the start-up garbage (two full passes' worth), which is not what the change passes measure.
gc?.();
const changes: number[] = [];
const session = PROFILE ? new Session() : undefined;
if (session !== undefined) {
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.start");
}
for (let k = 1; k <= CHANGES; k++) {
  store.upsert("HTTPRoute", route((41 * k) % SIZE.routes, SIZE, k));
  const t = performance.now();
  const out = runPipeline(store, options);
  changes.push(performance.now() - t);
  sample();
  await statuses.write(out.statuses);
}
const profile =
  session === undefined ? undefined : profileSummary((await session.post("Profiler.stop")).profile);

// A fresh pass over the same final store, without the cache: the full-translation time when warm.
const t2 = performance.now();
if (WARM) runPipeline(store, { now: options.now, addressPool: options.addressPool });
const warmFullMs = WARM ? performance.now() - t2 : Number.NaN;
sample();

gc?.();
const liveHeap = heapMiB();

const routeTables = [
  ...first.resources["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"].values(),
];
const routeCount = routeTables.reduce(
  (n, rc) => n + (rc.virtual_hosts as { routes: unknown[] }[]).reduce((m, vh) => m + vh.routes.length, 0),
  0,
);
console.log(
  JSON.stringify(
    {
      size: SIZE,
      envoy: {
        listeners: first.resources["type.googleapis.com/envoy.config.listener.v3.Listener"].size,
        routeConfigurations: routeTables.length,
        routes: routeCount,
        clusters: first.resources["type.googleapis.com/envoy.config.cluster.v3.Cluster"].size,
      },
      generateMs: Math.round(generateMs),
      fullTranslationMs: { cold: Math.round(fullMs), warm: Math.round(warmFullMs) },
      statusesWrittenBack: written,
      passAfterStatusWriteBackMs: round(afterWriteBackMs),
      oneRouteChangeMs: {
        changes: CHANGES,
        p50: round(percentile(changes, 50)),
        p90: round(percentile(changes, 90)),
        p99: round(percentile(changes, 99)),
        max: round(Math.max(...changes)),
      },
      ...(profile === undefined ? {} : { changePassesProfile: profile }),
      // peak: heap in use (garbage included) at the samples; live: after a full GC at the end.
      heapMiB: { afterGenerate: Math.round(baseHeap), peak: Math.round(peak), live: Math.round(liveHeap) },
    },
    null,
    2,
  ),
);
