/**
 * Where a policy write's time goes (root: real BPF maps, not pinned). For N
 * policy entries plus N ipcache entries (the shape bench/datapath.ts writes
 * through the agent), times each phase of `PUT /api/v1/desired-state` in
 * process: the request body's JSON parse, validation, the map contents
 * (key and value encoding), and each map's upsert (empty → N) and prune
 * (N → none), one MapSync per map as the Datapath runs them, and the JSON the
 * agent persists. Not here: the HTTP transfer and the client's JSON. Prints JSON.
 *
 *   node bench/policy-write.ts [--sizes 10,1000,10000,100000] [--rounds 3] [--cpu-prof FILE]
 *
 * `--cpu-prof` starts the V8 profiler after the datapath object is loaded:
 * node's own --cpu-prof samples with SIGPROF from the start, and the BPF
 * verifier gives up with EAGAIN when a signal arrives while it runs.
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { validateDesiredState } from "../src/agent/validate.ts";
import { loadDatapathObject } from "../src/datapath/bpf-object.ts";
import { ipcacheEntries, policyEntries } from "../src/datapath/map-entries.ts";
import { MapSync } from "../src/datapath/map-sync.ts";
import { policyWriteState } from "./policy-write-state.ts";

const { values } = parseArgs({
  options: {
    sizes: { type: "string", default: "10,1000,10000,100000" },
    rounds: { type: "string", default: "3" },
    "cpu-prof": { type: "string" },
  },
});
const SIZES = values.sizes.split(",").map(Number);
const ROUNDS = Number(values.rounds);

if (process.getuid?.() !== 0) throw new Error("bench/policy-write.ts needs root (BPF maps)");

function time<T>(into: Record<string, number[]>, name: string, fn: () => T): T {
  const t0 = performance.now();
  const out = fn();
  into[name] = [...(into[name] ?? []), performance.now() - t0];
  return out;
}

function median(list: readonly number[]): number {
  const s = [...list].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

const startLoad = loadavg().map((l) => Number(l.toFixed(2)));
const results: Record<string, Record<string, number>> = {};
const object = loadDatapathObject({ pinRoot: null });
const profiler = values["cpu-prof"] === undefined ? undefined : new Session();
if (profiler !== undefined) {
  profiler.connect();
  await profiler.post("Profiler.enable");
  await profiler.post("Profiler.start");
}
try {
  for (const n of SIZES) {
    const phases: Record<string, number[]> = {};
    const body = JSON.stringify(policyWriteState(n, "10.0.0.1", "10.0.0.2"));
    for (let round = 0; round < ROUNDS; round++) {
      const parsed = time(phases, "jsonParse", () => JSON.parse(body) as unknown);
      const state = time(phases, "validate", () => validateDesiredState(parsed));
      if (!state.ok) throw new Error(JSON.stringify(state.error.slice(0, 3)));
      const policy = time(phases, "policyEntries", () => policyEntries(state.value.policies));
      const ipcache = time(phases, "ipcacheEntries", () => ipcacheEntries(state.value.ipcache));
      const syncs = {
        policy: new MapSync(object.maps.strait_policy),
        ipcache: new MapSync(object.maps.strait_ipcache),
      };
      const up = {
        ipcache: time(phases, "ipcacheUpsert", () => syncs.ipcache.upsert(ipcache)),
        policy: time(phases, "policyUpsert", () => syncs.policy.upsert(policy)),
      };
      for (const r of Object.values(up)) if (r.error !== undefined) throw new Error(r.error.message);
      time(phases, "unchangedUpsert", () => syncs.policy.upsert(policy) && syncs.ipcache.upsert(ipcache));
      const empty = new Map();
      time(phases, "policyPrune", () => syncs.policy.prune(empty));
      time(phases, "ipcachePrune", () => syncs.ipcache.prune(empty));
      if (syncs.policy.size !== 0 || syncs.ipcache.size !== 0) throw new Error("prune left entries");
      // The agent keeps the applied state in its state folder (JSON) for a restart.
      time(phases, "persistJson", () => JSON.stringify(state.value));
    }
    const row = Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Number(median(v).toFixed(1))]));
    row.totalMs = Number(
      Object.entries(row)
        .filter(([k]) => k !== "unchangedUpsert")
        .reduce((sum, [, v]) => sum + v, 0)
        .toFixed(1),
    );
    results[String(n)] = row;
  }
} finally {
  object.close();
}
if (profiler !== undefined && values["cpu-prof"] !== undefined) {
  const { profile } = await profiler.post("Profiler.stop");
  writeFileSync(values["cpu-prof"], JSON.stringify(profile));
}
console.log(
  JSON.stringify(
    {
      date: new Date().toISOString(),
      loadAverage: { start: startLoad, end: loadavg().map((l) => Number(l.toFixed(2))) },
      rounds: ROUNDS,
      medianMsByEntries: results,
    },
    null,
    2,
  ),
);
