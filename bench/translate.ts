/**
 * `npm run bench:translate`: full translation of the issue's configuration,
 * then re-translation after one HTTPRoute changes; prints JSON with the
 * times and the peak heap. Run with --expose-gc for a clean heap reading.
 */
import { PipelineCache, runPipeline } from "../src/controller/pipeline.ts";
import { generate, ISSUE_SIZE, route } from "./generate.ts";

const gc = (globalThis as { gc?: () => void }).gc;

function heapMiB(): number {
  return process.memoryUsage().heapUsed / 1024 / 1024;
}

const generateStart = performance.now();
const store = generate(ISSUE_SIZE);
const generateMs = performance.now() - generateStart;
gc?.();
const baseHeap = heapMiB();
let peak = baseHeap;
const sample = setInterval(() => {
  peak = Math.max(peak, heapMiB());
}, 5);

const options = {
  now: new Date("2026-01-01T00:00:00Z"),
  addressPool: ["10.200.0.0/16"],
  cache: new PipelineCache(),
};
const t0 = performance.now();
const first = runPipeline(store, options);
const fullMs = performance.now() - t0;
peak = Math.max(peak, heapMiB());

const changes: number[] = [];
for (let k = 1; k <= 5; k++) {
  store.upsert("HTTPRoute", route(42 * k, ISSUE_SIZE, k));
  const t = performance.now();
  runPipeline(store, options);
  changes.push(performance.now() - t);
  peak = Math.max(peak, heapMiB());
}
clearInterval(sample);

const routeCount = [
  ...first.resources["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"].values(),
].reduce(
  (n, rc) => n + (rc.virtual_hosts as { routes: unknown[] }[]).reduce((m, vh) => m + vh.routes.length, 0),
  0,
);
console.log(
  JSON.stringify(
    {
      size: ISSUE_SIZE,
      envoy: {
        listeners: first.resources["type.googleapis.com/envoy.config.listener.v3.Listener"].size,
        routeConfigurations:
          first.resources["type.googleapis.com/envoy.config.route.v3.RouteConfiguration"].size,
        routes: routeCount,
        clusters: first.resources["type.googleapis.com/envoy.config.cluster.v3.Cluster"].size,
      },
      generateMs: Math.round(generateMs),
      fullTranslationMs: Math.round(fullMs),
      oneRouteChangeMs: {
        median: Math.round([...changes].sort((a, b) => a - b)[2] ?? 0),
        all: changes.map(Math.round),
      },
      heapMiB: { afterGenerate: Math.round(baseHeap), peak: Math.round(peak) },
    },
    null,
    2,
  ),
);
