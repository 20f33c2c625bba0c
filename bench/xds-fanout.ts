/**
 * `npm run bench:xds-fanout`: strait's xDS server (its own process,
 * bench/xds-fanout-server.ts) with up to 10,000 delta ADS clients from
 * several load processes (bench/xds-clients.ts), each client its own node id
 * and its own HTTP/2 connection on loopback, subscribing as Envoy does (CDS
 * and LDS wildcard, then EDS and RDS by name) and ACKing every response.
 *
 * Measures the server's memory after the first sync of 0 and each step of
 * clients (RSS, V8 heap, external and array buffers, anonymous memory from
 * smaps_rollup, glibc's mallinfo2 through bench/malloc-stats.c), the slope
 * per client over the steps, and, at the largest step, the time from one
 * HTTPRoute change entering the store until each client has the new
 * RouteConfiguration (p50, p99, max). The processes' clocks are compared
 * over IPC (round trip halved, best of several) so receipt times in the load
 * processes and the change time in the server share one time base.
 *
 * Flags: --steps 1000,2000,5000,10000 --processes 4 --routes 100 (Services as
 * many, Gateways routes/10, 10 endpoints each), --trim (malloc_trim at every
 * step, to separate memory the allocator keeps from memory in use),
 * --heap-summary (a V8 heap snapshot at the first two steps, summed by
 * constructor: what the heap per client is made of), --budget-mib N (the
 * server's bytes of responses in flight, default the server's default),
 * --glibc-tunables S (the server's GLIBC_TUNABLES, default what bin/strait
 * sets for `strait run`; "" for glibc's defaults). --heap-summary writes and
 * parses heap snapshots in the server: its memory readings after the first
 * step are then not clean.
 */
import { execFileSync, fork } from "node:child_process";
import { mkdirSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { TYPE_URLS } from "../src/xds/proto/index.ts";
import { DEFAULT_LIMITS } from "../src/xds/server/index.ts";
import type { BenchSize } from "./generate.ts";

const { values } = parseArgs({
  options: {
    steps: { type: "string", default: "1000,2000,5000,10000" },
    processes: { type: "string", default: "4" },
    routes: { type: "string", default: "100" },
    trim: { type: "boolean", default: false },
    "no-malloc-stats": { type: "boolean", default: false },
    "heap-summary": { type: "boolean", default: false },
    /** Profile the server for this many ms from the route change (self time by function). */
    "profile-ms": { type: "string" },
    // What bin/strait sets for `strait run`; --glibc-tunables "" for glibc's defaults.
    "glibc-tunables": { type: "string", default: "glibc.malloc.mmap_threshold=131072" },
    "budget-mib": { type: "string", default: String(DEFAULT_LIMITS.maxBytesInFlight / 1048576) },
  },
});
const STEPS = values.steps.split(",").map(Number);
const PROCESSES = Number(values.processes);
const ROUTES = Number(values.routes);
const size: BenchSize = {
  gateways: Math.max(1, Math.round(ROUTES / 10)),
  routes: ROUTES,
  services: ROUTES,
  endpointsPerService: 10,
};
const MAX = Math.max(...STEPS);
const now = () => performance.timeOrigin + performance.now();
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

type Reply = Record<string, unknown> & { event: string };

function child(script: string, args: string[], env: NodeJS.ProcessEnv) {
  const proc = fork(join(import.meta.dirname, script), [], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
    execArgv: args,
    env,
  });
  const waiting = new Map<string, ((r: Reply) => void)[]>();
  let ready: ((r: Reply) => void) | undefined;
  const readyReply = new Promise<Reply>((resolve) => {
    ready = resolve;
  });
  proc.on("message", (r: Reply) => {
    if (r.event === "ready") ready?.(r);
    else waiting.get(r.event)?.shift()?.(r);
  });
  return {
    ready: readyReply,
    ask(command: Record<string, unknown>, event: string): Promise<Reply> {
      return new Promise((resolve) => {
        const list = waiting.get(event) ?? [];
        list.push(resolve);
        waiting.set(event, list);
        proc.send(command);
      });
    },
    tell(command: Record<string, unknown>) {
      proc.send(command);
    },
    exited: new Promise<void>((resolve) => proc.on("exit", () => resolve())),
  };
}
type Child = ReturnType<typeof child>;

/** The child's clock minus ours: best (shortest round trip) of 20 exchanges. */
async function clockOffset(c: Child): Promise<{ offset: number; rtt: number }> {
  let best = { offset: 0, rtt: Number.POSITIVE_INFINITY };
  for (let i = 0; i < 20; i++) {
    const sent = now();
    const r = await c.ask({ cmd: "clock" }, "clock");
    const received = now();
    const rtt = received - sent;
    if (rtt < best.rtt) best = { offset: Number(r.now) - (sent + received) / 2, rtt };
  }
  return best;
}

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** Least-squares slope of y over x. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  const num = points.reduce((a, p) => a + (p.x - mx) * (p.y - my), 0);
  const den = points.reduce((a, p) => a + (p.x - mx) ** 2, 0);
  return num / den;
}

// ---- the allocator statistics helper ----

const work = join(tmpdir(), `strait-xds-fanout-${process.pid}`);
mkdirSync(work, { recursive: true });
const serverEnv: NodeJS.ProcessEnv = {
  ...process.env,
  FANOUT_SIZE: JSON.stringify(size),
  FANOUT_MAX_STREAMS: String(MAX * 2),
  FANOUT_BUDGET: String(Number(values["budget-mib"]) * 1048576),
};
if (values["glibc-tunables"] === "") delete serverEnv.GLIBC_TUNABLES;
else serverEnv.GLIBC_TUNABLES = values["glibc-tunables"];
const so = join(work, "malloc-stats.so");
/** Builds the helper; without a C compiler the run goes on without glibc's statistics. */
function buildMallocStats(): boolean {
  if (values["no-malloc-stats"]) return false;
  try {
    const source = join(import.meta.dirname, "malloc-stats.c");
    execFileSync("cc", ["-O2", "-shared", "-fPIC", "-pthread", "-o", so, source], { stdio: "pipe" });
    return true;
  } catch (error) {
    process.stderr.write(
      `xds-fanout: no glibc statistics (building bench/malloc-stats.c failed: ${error})\n`,
    );
    return false;
  }
}
if (buildMallocStats()) {
  const request = join(work, "request");
  const reply = join(work, "reply");
  execFileSync("mkfifo", [request, reply]);
  Object.assign(serverEnv, {
    LD_PRELOAD: so,
    STRAIT_MALLINFO_REQUEST: request,
    STRAIT_MALLINFO_REPLY: reply,
  });
}

// ---- the run ----

const load = [loadavg()];
const server = child("xds-fanout-server.ts", ["--expose-gc"], serverEnv);
const ready = await server.ready;
const address = `127.0.0.1:${ready.port}`;
const subscriptions = ready.subscriptions as Record<string, string[]>;
const loaders = Array.from({ length: PROCESSES }, () => child("xds-clients.ts", [], process.env));

type Memory = Record<string, unknown> & {
  clients: number;
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  anonymous: number;
  malloc?: Record<string, number>;
  afterTrim?: { rss: number; malloc?: Record<string, number> };
};
const memoryAt: Memory[] = [];
const firstSync: Record<string, unknown>[] = [];
memoryAt.push((await server.ask({ cmd: "memory", trim: values.trim }, "memory")) as unknown as Memory);
type HeapSummary = Record<string, { count: number; bytes: number }>;
const heapAt: HeapSummary[] = [];
const heapSummary = async () => {
  if (!values["heap-summary"]) return;
  const r = await server.ask({ cmd: "heap", file: join(work, "heap.heapsnapshot") }, "heap");
  rmSync(join(work, "heap.heapsnapshot"), { force: true });
  heapAt.push(r.summary as HeapSummary);
};

let connected = 0;
for (const step of STEPS) {
  const add = step - connected;
  const t = now();
  // The new clients split evenly over the load processes, node ids numbered on from the last step.
  const counts = loaders.map((_, i) => Math.floor(add / PROCESSES) + (i < add % PROCESSES ? 1 : 0));
  const replies = await Promise.all(
    loaders.map((l, i) => {
      const from = connected + counts.slice(0, i).reduce((a, b) => a + b, 0);
      return l.ask(
        { cmd: "start", address, from, count: counts[i], mode: "delta", order: "envoy", subscriptions },
        "synced",
      );
    }),
  );
  connected = step;
  firstSync.push({
    clients: add,
    ms: round(now() - t, 0),
    ok: replies.every((r) => r.ok === true),
    // Since the start, in all load processes: streams that failed and were opened again.
    streamErrors: replies.reduce((n, r) => n + Number(r.streamErrors), 0),
    errorsByReason: replies.map((r) => r.errorsByReason),
  });
  await new Promise((r) => setTimeout(r, 2000));
  const m = (await server.ask(
    { cmd: "memory", trim: values.trim || step === MAX },
    "memory",
  )) as unknown as Memory;
  memoryAt.push(m);
  if (memoryAt.length <= 3) await heapSummary();
  load.push(loadavg());
  process.stderr.write(
    `xds-fanout: ${m.clients} clients, RSS ${round(m.rss / 1048576)} MiB, heap ${round(m.heapUsed / 1048576)} MiB\n`,
  );
}

// ---- one route change at the largest step ----

const serverClock = await clockOffset(server);
const loaderClocks = await Promise.all(loaders.map(clockOffset));
await Promise.all(loaders.map((l) => l.ask({ cmd: "mark" }, "marked")));
const profileMs = values["profile-ms"] === undefined ? {} : { profileMs: Number(values["profile-ms"]) };
const changed = await server.ask({ cmd: "change", ...profileMs }, "changed");
const t0 = Number(changed.t0) - serverClock.offset; // in our clock
const collected = await Promise.all(
  loaders.map((l, i) =>
    l.ask(
      {
        cmd: "collect",
        t0: t0 + (loaderClocks[i] as { offset: number }).offset,
        typeUrl: TYPE_URLS.routeConfiguration,
        settleMs: 1000,
        timeoutMs: 60_000,
      },
      "collected",
    ),
  ),
);
const latencies = collected
  .flatMap((r) => r.latencies as number[])
  .filter((n) => !Number.isNaN(n))
  .sort((a, b) => a - b);
const bytes = collected.flatMap((r) => r.bytes as number[]);
// Measured after the clients' settle time: the change's pushes and the ACKs they brought back.
const serverBusy = await server.ask({ cmd: "busy" }, "busy");
const loaderMemory = await Promise.all(loaders.map((l) => l.ask({ cmd: "memory" }, "memory")));

for (const l of loaders) l.tell({ cmd: "stop" });
server.tell({ cmd: "stop" });
await Promise.all([server.exited, ...loaders.map((l) => l.exited)]);
rmSync(work, { recursive: true, force: true });

// ---- the report ----

/** Per client, the constructors whose heap grew most between the first two steps. */
function heapGrowth(): Record<string, { perClient: number; bytesPerClient: number }> | undefined {
  const [before, at] = heapAt;
  if (before === undefined || at === undefined) return undefined;
  const clients = (STEPS[1] as number) - (STEPS[0] as number);
  return Object.fromEntries(
    Object.entries(at)
      .map(([key, v]) => {
        const b = before[key] ?? { count: 0, bytes: 0 };
        return [
          key,
          {
            perClient: round((v.count - b.count) / clients, 2),
            bytesPerClient: round((v.bytes - b.bytes) / clients, 0),
          },
        ] as const;
      })
      .sort((a, b) => b[1].bytesPerClient - a[1].bytesPerClient)
      .slice(0, 40),
  );
}

const KiB = (n: number) => round(n / 1024);
const after = memoryAt.slice(1);
const per = (pick: (m: Memory) => number) =>
  after.length > 1 ? KiB(slope(after.map((m) => ({ x: m.clients, y: pick(m) })))) : Number.NaN;
const mallocInUse = (m: Memory) =>
  m.malloc === undefined ? Number.NaN : (m.malloc.uordblks ?? 0) + (m.malloc.hblkhd ?? 0);
const mallocFree = (m: Memory) => (m.malloc === undefined ? Number.NaN : (m.malloc.fordblks ?? 0));
const MiB = (n: number) => round(n / 1048576);

console.log(
  JSON.stringify(
    {
      size,
      resources: ready.resources,
      processes: PROCESSES,
      budgetMiB: Number(values["budget-mib"]),
      glibcTunables: serverEnv.GLIBC_TUNABLES ?? null,
      loadAverage: load.map((l) => l.map((n) => round(n, 2))),
      firstSync,
      memoryMiB: memoryAt.map((m) => ({
        clients: m.clients,
        rss: MiB(m.rss),
        heapUsed: MiB(m.heapUsed),
        heapCommitted: MiB(Number(m.heapCommitted)),
        external: MiB(m.external),
        arrayBuffers: MiB(m.arrayBuffers),
        anonymous: MiB(m.anonymous),
        mallocInUse: MiB(mallocInUse(m)),
        mallocFree: MiB(mallocFree(m)),
        ...(m.afterTrim === undefined
          ? {}
          : {
              rssAfterTrim: MiB(m.afterTrim.rss),
              mallocFreeAfterTrim: MiB(m.afterTrim.malloc?.fordblks ?? Number.NaN),
            }),
      })),
      perClientKiB: {
        rss: per((m) => m.rss),
        heapUsed: per((m) => m.heapUsed),
        heapCommitted: per((m) => Number(m.heapCommitted)),
        external: per((m) => m.external),
        arrayBuffers: per((m) => m.arrayBuffers),
        anonymous: per((m) => m.anonymous),
        mallocInUse: per(mallocInUse),
        mallocFree: per(mallocFree),
      },
      routeChange: {
        clients: MAX,
        received: latencies.length,
        pipelineAndPublishMs: round(Number(changed.pipelineAndPublishMs)),
        latencyMs: {
          p50: round(percentile(latencies, 50)),
          p99: round(percentile(latencies, 99)),
          max: round(latencies.at(-1) ?? Number.NaN),
        },
        bytesPerClient: Math.round(bytes.reduce((a, b) => a + b, 0) / bytes.length),
        // From the change until the collection ended (the last receipt plus 1 s): who had work to do.
        serverBusyMs: { loop: round(Number(serverBusy.loopActiveMs)), cpu: round(Number(serverBusy.cpuMs)) },
        loaderBusyMs: collected.map((r) => ({
          loop: round(Number(r.loopActiveMs)),
          cpu: round(Number(r.cpuMs)),
        })),
        clockOffsetsMs: {
          server: round(serverClock.offset, 3),
          loaders: loaderClocks.map((c) => round(c.offset, 3)),
          bestRoundTrip: round(Math.max(serverClock.rtt, ...loaderClocks.map((c) => c.rtt)), 3),
        },
      },
      heapGrowthPerClient: heapGrowth(),
      serverProfileMs: changed.profileMs,
      serverProfileByFileMs: changed.profileByFileMs,
      loaderRssMiB: loaderMemory.map((m) => MiB(Number(m.rss))),
    },
    null,
    2,
  ),
);
process.exit(0);
