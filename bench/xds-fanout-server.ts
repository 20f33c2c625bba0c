/**
 * The server side of `npm run bench:xds-fanout`, in its own process: the
 * benchmark configuration (bench/generate.ts at the size given) translated by
 * `runPipeline` and served by strait's `XdsServer` and `SnapshotCache`, as
 * `strait run` serves them. Driven over IPC by bench/xds-fanout.ts: it
 * reports its memory (V8 heap, process.memoryUsage, /proc/self/smaps_rollup
 * and, when started with bench/malloc-stats.c preloaded, glibc's own
 * statistics) and makes one HTTPRoute change on request.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import type { EventLoopUtilization } from "node:perf_hooks";
import { getHeapSpaceStatistics, writeHeapSnapshot } from "node:v8";
import { pino } from "pino";
import { PipelineCache, runPipeline } from "../src/controller/pipeline.ts";
import { SnapshotCache } from "../src/xds/cache/index.ts";
import { TYPE_URLS } from "../src/xds/proto/index.ts";
import { DEFAULT_LIMITS, XdsServer } from "../src/xds/server/index.ts";
import { type BenchSize, generate, route } from "./generate.ts";

type Command =
  | { readonly cmd: "clock" }
  | { readonly cmd: "memory"; readonly trim?: boolean }
  | { readonly cmd: "change"; readonly profileMs?: number }
  | { readonly cmd: "heap"; readonly file: string }
  | { readonly cmd: "busy" }
  | { readonly cmd: "stop" };

const size = JSON.parse(process.env.FANOUT_SIZE ?? "") as BenchSize;
const maxStreams = Number(process.env.FANOUT_MAX_STREAMS ?? DEFAULT_LIMITS.maxStreams);
const maxBytesInFlight = Number(process.env.FANOUT_BUDGET ?? DEFAULT_LIMITS.maxBytesInFlight);
const now = () => performance.timeOrigin + performance.now();
const gc = (globalThis as { gc?: () => void }).gc;

const store = generate(size);
const options = {
  now: new Date("2026-01-01T00:00:00Z"),
  addressPool: ["10.200.0.0/16"],
  cache: new PipelineCache(),
};
const cache = new SnapshotCache();
const first = runPipeline(store, options);
const published = cache.publish(first.resources);
if (!published.ok) throw new Error(`publish failed: ${JSON.stringify(published.invalid.slice(0, 3))}`);

const server = new XdsServer({
  cache,
  logger: pino({ level: "silent" }),
  limits: { ...DEFAULT_LIMITS, maxStreams, maxBytesInFlight },
});
const { port } = await server.listen("127.0.0.1", 0);

/** glibc's mallinfo2 through the preloaded helper (bench/malloc-stats.c), if it is there. */
function mallinfo(trim: boolean): Record<string, number> | undefined {
  const request = process.env.STRAIT_MALLINFO_REQUEST;
  const reply = process.env.STRAIT_MALLINFO_REPLY;
  if (request === undefined || reply === undefined || !process.env.LD_PRELOAD?.includes("malloc-stats"))
    return undefined;
  writeFileSync(request, trim ? "t" : "s"); // blocks until the helper's thread reads it
  return JSON.parse(readFileSync(reply, "utf8")) as Record<string, number>;
}

function smapsRollup(): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of readFileSync("/proc/self/smaps_rollup", "utf8").split("\n")) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m !== null) out[m[1] as string] = Number(m[2]) * 1024;
  }
  return out;
}

function memory(trim: boolean) {
  for (let i = 0; i < 3; i++) gc?.();
  const usage = process.memoryUsage();
  const spaces = Object.fromEntries(
    getHeapSpaceStatistics().map((s) => [
      s.space_name,
      { used: s.space_used_size, committed: s.physical_space_size },
    ]),
  );
  const smaps = smapsRollup();
  const malloc = mallinfo(false);
  const afterTrim = trim ? { malloc: mallinfo(true), rss: process.memoryUsage().rss } : undefined;
  return {
    clients: server.clients().length,
    rss: usage.rss,
    heapUsed: usage.heapUsed,
    heapTotal: usage.heapTotal,
    /** V8's pages, committed (resident once touched) whether or not objects fill them. */
    heapCommitted: Object.values(spaces).reduce((n, s) => n + s.committed, 0),
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    anonymous: smaps.Anonymous ?? 0,
    spaces,
    malloc,
    afterTrim,
  };
}

interface HeapSnapshotFile {
  readonly snapshot: { readonly meta: { readonly node_fields: string[]; readonly node_types: [string[]] } };
  readonly nodes: number[];
  readonly strings: string[];
}

/** Self sizes in the V8 heap by kind and constructor ("object:TypeState", "closure:…"), from a heap snapshot. */
function heapSummary(file: string): Record<string, { count: number; bytes: number }> {
  for (let i = 0; i < 3; i++) gc?.();
  writeHeapSnapshot(file);
  const heap = JSON.parse(readFileSync(file, "utf8")) as HeapSnapshotFile;
  const fields = heap.snapshot.meta.node_fields;
  const kinds = heap.snapshot.meta.node_types[0];
  const [typeAt, nameAt, sizeAt] = ["type", "name", "self_size"].map((f) => fields.indexOf(f)) as [
    number,
    number,
    number,
  ];
  const out: Record<string, { count: number; bytes: number }> = {};
  for (let i = 0; i < heap.nodes.length; i += fields.length) {
    const kind = kinds[heap.nodes[i + typeAt] as number] as string;
    // Strings and code by kind only; objects, closures and native objects by constructor.
    const named = kind === "object" || kind === "closure" || kind === "native";
    const key = named ? `${kind}:${heap.strings[heap.nodes[i + nameAt] as number]}` : kind;
    const entry = out[key] ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += heap.nodes[i + sizeAt] as number;
    out[key] = entry;
  }
  return out;
}

let variant = 1;
const routeIndex = 7;

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
}
interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

/** Self time by function over `ms` after the change, from V8's sampling profiler: where a push's time goes. */
async function profiled(ms: number, run: () => ReturnType<typeof change>) {
  const session = new Session();
  session.connect();
  await session.post("Profiler.enable");
  await session.post("Profiler.setSamplingInterval", { interval: 1000 });
  await session.post("Profiler.start");
  const result = run();
  await new Promise((r) => setTimeout(r, ms));
  const { profile } = (await session.post("Profiler.stop")) as { profile: Profile };
  session.disconnect();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  const byFile = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)?.callFrame;
    const file =
      frame === undefined
        ? "?"
        : frame.url.replace(/^.*node_modules\//, "").replace(/^.*\/src\//, "src/") || frame.functionName;
    byFile.set(file, (byFile.get(file) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
    const where =
      frame === undefined
        ? "?"
        : `${frame.functionName || "(anonymous)"} ${frame.url.split("/").slice(-2).join("/")}:${frame.lineNumber + 1}`;
    self.set(where, (self.get(where) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, 30);
  const files = [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 30);
  return {
    ...result,
    profileMs: Object.fromEntries(top.map(([k, v]) => [k, Math.round(v)])),
    profileByFileMs: Object.fromEntries(files.map(([k, v]) => [k, Math.round(v)])),
  };
}

/** The event loop's use and the process's CPU time from the last change on. */
let sinceChange: { elu: EventLoopUtilization; cpu: NodeJS.CpuUsage } | undefined;

function busy() {
  if (sinceChange === undefined) return {};
  const elu = performance.eventLoopUtilization(sinceChange.elu);
  const cpu = process.cpuUsage(sinceChange.cpu);
  return { loopActiveMs: elu.active, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function change() {
  variant++;
  sinceChange = { elu: performance.eventLoopUtilization(), cpu: process.cpuUsage() };
  const t0 = now();
  store.upsert("HTTPRoute", route(routeIndex, size, variant));
  const result = runPipeline(store, options);
  cache.publish(result.resources);
  return { t0, pipelineAndPublishMs: now() - t0 };
}

process.on("message", async (command: Command) => {
  if (command.cmd === "clock") process.send?.({ event: "clock", now: now() });
  else if (command.cmd === "memory") process.send?.({ event: "memory", ...memory(command.trim === true) });
  else if (command.cmd === "change" && command.profileMs !== undefined) {
    // The profile runs on after the change; the reply waits for it (the clients' clocks do not).
    process.send?.({ event: "changed", ...(await profiled(command.profileMs, change)) });
  } else if (command.cmd === "change") process.send?.({ event: "changed", ...change() });
  else if (command.cmd === "busy") process.send?.({ event: "busy", ...busy() });
  else if (command.cmd === "heap") process.send?.({ event: "heap", summary: heapSummary(command.file) });
  else if (command.cmd === "stop") {
    await server.close();
    process.exit(0);
  }
});

const resources = Object.fromEntries(
  Object.entries(first.resources).map(([typeUrl, map]) => [typeUrl.split(".").at(-1), map.size]),
);
const bytesPerNode = Object.values(first.resources).reduce((n, map) => n + map.size, 0);
process.send?.({
  event: "ready",
  port,
  resources,
  resourceCount: bytesPerNode,
  subscriptions: {
    [TYPE_URLS.cluster]: [],
    [TYPE_URLS.clusterLoadAssignment]: [...first.resources[TYPE_URLS.clusterLoadAssignment].keys()],
    [TYPE_URLS.listener]: [],
    [TYPE_URLS.routeConfiguration]: [...first.resources[TYPE_URLS.routeConfiguration].keys()],
  },
});
