/**
 * `npm run bench:xds`: the xDS server under the Gateway API benchmark's
 * configuration (bench/generate.ts: 100 Gateways, 5,000 HTTPRoutes, 5,000
 * Services) with 1,000 concurrent ADS streams from a separate process
 * (bench/xds-clients.ts), in state-of-the-world and then delta mode.
 *
 * Measures, per mode: the first sync of every client; the server's memory
 * per connected, idle client; after one HTTPRoute changes, the time until
 * every client has the new RouteConfiguration version (p50, p99, max,
 * counted from the change entering the pipeline) and the bytes each client
 * received for it; the same after one Service's cluster changes (where SotW
 * must resend every cluster and delta only the changed one).
 *
 * Flags: --clients N (default 1000), --mode sotw|delta|both (default both),
 * --budget-mib N (the server's bytes in flight, default the server's default).
 * Run with --expose-gc (the npm script does) for clean memory readings.
 */
import { fork } from "node:child_process";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { PipelineCache, runPipeline } from "../src/controller/pipeline.ts";
import type { ObjectOf } from "../src/resources/objects.ts";
import { SnapshotCache } from "../src/xds/cache/index.ts";
import { TYPE_URLS } from "../src/xds/proto/index.ts";
import { DEFAULT_LIMITS, XdsServer } from "../src/xds/server/index.ts";
import { generate, ISSUE_SIZE, route } from "./generate.ts";

const { values } = parseArgs({
  options: {
    clients: { type: "string", default: "1000" },
    mode: { type: "string", default: "both" },
    "budget-mib": { type: "string", default: String(DEFAULT_LIMITS.maxBytesInFlight / 1048576) },
  },
});
const CLIENTS = Number(values.clients);
const BUDGET = Number(values["budget-mib"]) * 1048576;
const MODES = values.mode === "both" ? (["sotw", "delta"] as const) : ([values.mode] as ("sotw" | "delta")[]);

const gc = (globalThis as { gc?: () => void }).gc;
const now = () => performance.timeOrigin + performance.now();

function memory() {
  for (let i = 0; i < 3; i++) gc?.();
  const m = process.memoryUsage();
  return { rss: m.rss, heap: m.heapUsed, heapTotal: m.heapTotal, external: m.external };
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

// ---- connections alone: idle clients of a tiny configuration ----
// With the big configuration, the first sync moves gigabytes, and the memory it leaves behind
// (V8 pages, allocator arenas) shows in RSS; this phase measures what an idle connection itself costs.

type Reply = Record<string, unknown> & { event: string };

function clientProcess() {
  const child = fork(join(import.meta.dirname, "xds-clients.ts"), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const waiting: ((r: Reply) => void)[] = [];
  child.on("message", (r: Reply) => waiting.shift()?.(r));
  return {
    ask(command: Record<string, unknown>): Promise<Reply> {
      return new Promise((resolve) => {
        waiting.push(resolve);
        child.send(command);
      });
    },
    tell(command: Record<string, unknown>) {
      child.send(command);
    },
    exited: new Promise<void>((resolve) => child.on("exit", () => resolve())),
  };
}

async function connectionCost(mode: "sotw" | "delta") {
  const tiny = new SnapshotCache();
  const name = "ns/svc:80";
  tiny.publish({
    [TYPE_URLS.cluster]: new Map([
      [
        name,
        {
          name,
          type: "EDS",
          eds_cluster_config: { eds_config: { ads: {}, resource_api_version: "V3" } },
          lb_policy: "ROUND_ROBIN",
        },
      ],
    ]),
    [TYPE_URLS.clusterLoadAssignment]: new Map([[name, { cluster_name: name, endpoints: [] }]]),
  });
  const tinyServer = new XdsServer({
    cache: tiny,
    logger: pino({ level: "silent" }),
    limits: { ...DEFAULT_LIMITS, maxStreams: CLIENTS * 2 },
  });
  const { port: tinyPort } = await tinyServer.listen("127.0.0.1", 0);
  const clients = clientProcess();
  const subs = { [TYPE_URLS.cluster]: [], [TYPE_URLS.clusterLoadAssignment]: [name] };
  const tinyAddress = `127.0.0.1:${tinyPort}`;
  await clients.ask({ cmd: "start", address: tinyAddress, from: 0, count: 1, mode, subscriptions: subs });
  await new Promise((r) => setTimeout(r, 500));
  const before = memory();
  await clients.ask({
    cmd: "start",
    address: tinyAddress,
    from: 1,
    count: CLIENTS,
    mode,
    subscriptions: subs,
  });
  await new Promise((r) => setTimeout(r, 2000));
  const after = memory();
  clients.tell({ cmd: "stop" });
  await clients.exited;
  await tinyServer.close();
  return {
    rss: round((after.rss - before.rss) / CLIENTS / 1024),
    heapUsed: round((after.heap - before.heap) / CLIENTS / 1024),
  };
}

const idleConnectionKiB = Object.fromEntries(
  await (async () => {
    const out: [string, unknown][] = [];
    for (const mode of MODES) out.push([mode, await connectionCost(mode)]);
    return out;
  })(),
);

// ---- the configuration, translated and published ----

const store = generate(ISSUE_SIZE);
const pipelineCache = new PipelineCache();
const options = {
  now: new Date("2026-01-01T00:00:00Z"),
  addressPool: ["10.200.0.0/16"],
  cache: pipelineCache,
};
const cache = new SnapshotCache();
let t = performance.now();
const first = runPipeline(store, options);
const translateMs = performance.now() - t;
t = performance.now();
const published = cache.publish(first.resources);
const encodeMs = performance.now() - t;
if (!published.ok) throw new Error(`publish failed: ${JSON.stringify(published.invalid.slice(0, 3))}`);

const subscriptions: Record<string, string[]> = {
  [TYPE_URLS.cluster]: [],
  [TYPE_URLS.clusterLoadAssignment]: [...first.resources[TYPE_URLS.clusterLoadAssignment].keys()],
  [TYPE_URLS.listener]: [],
  [TYPE_URLS.routeConfiguration]: [...first.resources[TYPE_URLS.routeConfiguration].keys()],
};

const server = new XdsServer({
  cache,
  logger: pino({ level: "silent" }),
  limits: { ...DEFAULT_LIMITS, maxStreams: CLIENTS * 2, maxBytesInFlight: BUDGET },
});
const { port } = await server.listen("127.0.0.1", 0);
const address = `127.0.0.1:${port}`;

interface ChangeResult {
  readonly pipelineAndPublishMs: number;
  readonly allReceived: boolean;
  readonly latencyMs: { readonly p50: number; readonly p99: number; readonly max: number };
  readonly bytesPerClient: { readonly mean: number; readonly max: number };
  readonly responsesPerClient: number;
}

async function change(
  clients: ReturnType<typeof clientProcess>,
  typeUrl: string,
  apply: () => void,
): Promise<ChangeResult> {
  await clients.ask({ cmd: "mark" });
  const t0 = now();
  apply();
  const result = runPipeline(store, options);
  cache.publish(result.resources);
  const pipelineAndPublishMs = now() - t0;
  const r = await clients.ask({ cmd: "collect", t0, typeUrl, settleMs: 1500, timeoutMs: 60_000 });
  const latencies = (r.latencies as number[]).filter((n) => !Number.isNaN(n)).sort((a, b) => a - b);
  const bytes = r.bytes as number[];
  return {
    pipelineAndPublishMs: round(pipelineAndPublishMs),
    allReceived: r.ok === true && latencies.length === CLIENTS,
    latencyMs: {
      p50: round(percentile(latencies, 50)),
      p99: round(percentile(latencies, 99)),
      max: round(latencies.at(-1) ?? Number.NaN),
    },
    bytesPerClient: {
      mean: Math.round(bytes.reduce((a, b) => a + b, 0) / bytes.length),
      max: Math.max(...bytes),
    },
    responsesPerClient: round((r.responses as number[]).reduce((a, b) => a + b, 0) / CLIENTS, 2),
  };
}

let variant = 1;
const results: Record<string, unknown> = {};
for (const mode of MODES) {
  const clients = clientProcess();
  const baseline = memory();
  // One client first: the shared response buffers it causes are not per-client memory.
  const one = await clients.ask({ cmd: "start", address, from: 0, count: 1, mode, subscriptions });
  const afterOne = memory();
  const rest = await clients.ask({ cmd: "start", address, from: 1, count: CLIENTS - 1, mode, subscriptions });
  await new Promise((r) => setTimeout(r, 2000));
  const idle = memory();
  const perClient = (k: "rss" | "heap" | "external") => (idle[k] - afterOne[k]) / (CLIENTS - 1) / 1024;

  const routeChange = await change(clients, TYPE_URLS.routeConfiguration, () => {
    variant++;
    store.upsert("HTTPRoute", route(42, ISSUE_SIZE, variant));
  });
  const clusterChange = await change(clients, TYPE_URLS.cluster, () => {
    const svc = store.get("Service", "team-7", "svc-7") as ObjectOf<"Service">;
    const appProtocol = variant % 2 === 0 ? "kubernetes.io/h2c" : "http";
    store.upsert("Service", {
      ...svc,
      spec: { ...svc.spec, ports: [{ name: "http", port: 80, targetPort: 8080, appProtocol }] },
    } as ObjectOf<"Service">);
  });
  results[mode] = {
    clients: CLIENTS,
    firstSync: {
      allSynced: one.ok === true && rest.ok === true,
      ms: round(Number(rest.ms) + Number(one.ms), 0),
    },
    serverMemoryPerIdleClientKiB: {
      rss: round(perClient("rss")),
      heapUsed: round(perClient("heap")),
      external: round(perClient("external")),
    },
    serverMemoryMiB: {
      baseline: round(baseline.rss / 1048576),
      withClients: round(idle.rss / 1048576),
      heapWithClients: round(idle.heap / 1048576),
      heapCommittedWithClients: round(idle.heapTotal / 1048576),
    },
    oneRouteChange: routeChange,
    oneClusterChange: clusterChange,
  };
  clients.tell({ cmd: "stop" });
  await clients.exited;
  await new Promise((r) => setTimeout(r, 1000));
}
await server.close();

const resources = Object.fromEntries(
  Object.entries(first.resources).map(([typeUrl, map]) => [typeUrl.split(".").at(-1), map.size]),
);
console.log(
  JSON.stringify(
    {
      size: ISSUE_SIZE,
      resources,
      translateMs: round(translateMs, 0),
      encodeAndPublishMs: round(encodeMs, 0),
      idleConnectionKiB,
      ...results,
    },
    null,
    2,
  ),
);
process.exit(0);
