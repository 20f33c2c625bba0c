/**
 * `npm run bench:datapath` (root): the datapath's cost, in network namespaces
 * on this machine's kernel. Two pods (client, server) made by the real CNI
 * chain, the agent in a node namespace, and in one run:
 *  - no policy at all (no programs attached, no iptables rules);
 *  - strait with a server ingress policy of N entries (N-1 other identities
 *    plus the client's), and N ipcache entries, for N = 10, 1,000, 10,000, 100,000;
 *  - the same allow-list as iptables source-address rules (the classic
 *    approach: conntrack ESTABLISHED first, then one -s rule per allowed peer,
 *    the client's in the middle, i.e. the average position in a linear list), same N;
 *  - the added latency of an L7 redirect through a transparent pass-through
 *    listener (TPROXY) in the node namespace.
 * Measures the new-connection rate (each connection: connect, one request,
 * its response, close), that connection's latency p50/p99, and the request
 * latency p50/p99 on an established connection. Prints JSON.
 *
 * BENCH_WRITES_ONLY=1 measures only the policy writes, side by side: the
 * agent's `PUT /api/v1/desired-state` and `iptables-restore` of the same
 * rules, per size and round (no traffic, no L7, no pairs, no kernel cost).
 *
 * BENCH_ATTRIBUTION=N measures only where the cost over no policy goes, in N
 * back-to-back triples (order rotating): no policy; strait-10 with the agent
 * running (it reads and decodes every flow event on the same cores); strait-10
 * with the agent stopped (SIGSTOP for the sample: the programs still run and
 * write their events, which the full ring buffer then refuses) — and the
 * agent's CPU time during the strait-10 samples; and the hook alone (a clsact
 * qdisc on both host interfaces with no program in it).
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { join, resolve } from "node:path";
import { agentRequest } from "../src/agent/client.ts";
import { Datapath } from "../src/datapath/datapath.ts";
import { addon } from "../src/datapath/native.ts";
import type { PolicyEntry } from "../src/model/endpoint-policy.ts";
import { NodeLab, type Pod, sweepLeftovers } from "../test/support/netns-lab.ts";
import { frame, skbContext, TCP } from "../test/support/packets.ts";
import { REPO } from "../test/support/strait-process.ts";
import {
  allow,
  CLIENT_IDENTITY,
  fakeIp,
  PROXY_PORT,
  policyWriteState,
  SERVER_IDENTITY,
} from "./policy-write-state.ts";

const SIZES = [10, 1_000, 10_000, 100_000];
const DURATION_MS = Number(process.env.BENCH_DURATION_MS ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 7);
/** Back-to-back pairs of none and strait-10, for the cost over no policy (see below). */
const WRITES_ONLY = process.env.BENCH_WRITES_ONLY === "1";
const ATTRIBUTION = Number(process.env.BENCH_ATTRIBUTION ?? 0);
const PAIRS = WRITES_ONLY || ATTRIBUTION > 0 ? 0 : Number(process.env.BENCH_PAIRS ?? 15);
const TCP_LOAD = join(REPO, "build/bench/tcp-load");
const CLIENT = CLIENT_IDENTITY;
const SERVER = SERVER_IDENTITY;

function iptablesRules(n: number, client: Pod, server: Pod): string {
  const lines = [
    "*filter",
    ":INPUT ACCEPT [0:0]",
    ":FORWARD ACCEPT [0:0]",
    ":OUTPUT ACCEPT [0:0]",
    ":BENCH-ALLOW - [0:0]",
    "-A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT",
    `-A FORWARD -d ${server.ip}/32 -p tcp --dport 8080 -j BENCH-ALLOW`,
  ];
  const sources: string[] = [];
  for (let i = 0; i < n - 1; i++) sources.push(fakeIp(i));
  sources.splice(Math.floor(sources.length / 2), 0, client.ip);
  for (const s of sources) lines.push(`-A BENCH-ALLOW -s ${s}/32 -j ACCEPT`);
  lines.push("-A BENCH-ALLOW -j DROP", "COMMIT", "");
  return lines.join("\n");
}

interface Sample {
  readonly rate: number;
  readonly connectP50: number;
  readonly connectP99: number;
  readonly requestP50: number;
  readonly requestP99: number;
  readonly errors: number;
}

/** Runs the C load generator inside the client pod. */
function tcpLoad(netns: string, args: readonly (string | number)[]): Record<string, number> {
  const out = execFileSync("nsenter", [`--net=/run/netns/${netns}`, TCP_LOAD, ...args.map(String)], {
    encoding: "utf8",
  });
  return JSON.parse(out) as Record<string, number>;
}

function measure(client: Pod, host: string, port: number, concurrency = CONCURRENCY): Sample {
  tcpLoad(client.netns, ["load", host, port, 300, concurrency]); // warm-up
  const load = tcpLoad(client.netns, ["load", host, port, DURATION_MS, concurrency]);
  const ping = tcpLoad(client.netns, ["pingpong", host, port, 5000]);
  return {
    rate: (load.count ?? 0) / (load.seconds ?? 1),
    connectP50: load.p50 ?? Number.NaN,
    connectP99: load.p99 ?? Number.NaN,
    requestP50: ping.p50 ?? Number.NaN,
    requestP99: ping.p99 ?? Number.NaN,
    errors: load.errors ?? 0,
  };
}

function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function summarize(samples: readonly Sample[]) {
  const pick = (k: keyof Sample) => Number(median(samples.map((s) => s[k])).toFixed(k === "rate" ? 0 : 3));
  return {
    newConnectionsPerSecond: pick("rate"),
    connectionLatencyMs: { p50: pick("connectP50"), p99: pick("connectP99") },
    requestLatencyMs: { p50: pick("requestP50"), p99: pick("requestP99") },
    errors: samples.reduce((n, s) => n + s.errors, 0),
    rounds: samples.map((s) => Math.round(s.rate)),
  };
}

/**
 * The programs' own cost per packet, measured by the kernel (BPF_PROG_TEST_RUN,
 * many repeats): a new flow's full policy evaluation (a SYN the policy denies,
 * so every repeat takes the new-flow path: ipcache, all six policy lookups,
 * drop event) and an established packet (CT hit), with N policy and ipcache
 * entries. Unlike the end-to-end numbers this does not move with the load of
 * the machine, so it shows the lookup cost against N directly.
 */
function kernelCost(): Record<string, { newFlowDeniedNs: number; establishedNs: number }> {
  const out: Record<string, { newFlowDeniedNs: number; establishedNs: number }> = {};
  const dp = Datapath.open({ pinRoot: null });
  const native = addon();
  try {
    for (const n of SIZES) {
      const entries: PolicyEntry[] = [];
      const ipcache = [
        { prefix: "10.252.0.1/32", identity: CLIENT },
        { prefix: "10.252.0.3/32", identity: 1003 },
      ];
      for (let i = 0; i < n - 1; i++) {
        entries.push(allow(2000 + i, 8080));
        ipcache.push({ prefix: `${fakeIp(i)}/32`, identity: 2000 + i });
      }
      entries.push(allow(CLIENT, 8080));
      const r = dp.apply({
        endpoints: [
          {
            id: 2,
            identity: SERVER,
            addresses: ["10.252.0.2"],
            ifindex: 1,
            ingressEnforced: true,
            egressEnforced: false,
          },
        ],
        policies: [{ endpointId: 2, ingressEnforced: true, egressEnforced: false, entries, sources: [] }],
        ipcache,
        meshServices: [],
        encrypt: [],
      });
      if (!r.ok) throw new Error(JSON.stringify(r.error));
      const run = (src: string, flags: number) => {
        const result = native.progTestRun(
          dp.object.programs.toEndpoint,
          frame({ src, dst: "10.252.0.2", protocol: "tcp", sport: 40000, dport: 8080, flags }),
          skbContext(),
          200_000,
        );
        if (result.error !== 0) throw new Error(`test run: ${result.error}`);
        return result.durationNs;
      };
      const denied = Math.min(
        run("10.252.0.3", TCP.SYN),
        run("10.252.0.3", TCP.SYN),
        run("10.252.0.3", TCP.SYN),
      );
      run("10.252.0.1", TCP.SYN); // creates the CT entry
      const established = Math.min(
        run("10.252.0.1", TCP.ACK),
        run("10.252.0.1", TCP.ACK),
        run("10.252.0.1", TCP.ACK),
      );
      out[String(n)] = { newFlowDeniedNs: denied, establishedNs: established };
      dp.readEventRecords(); // drain
    }
  } finally {
    dp.close();
  }
  return out;
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error("bench:datapath needs root (network namespaces, BPF)");
  sweepLeftovers();
  const startLoad = loadavg().map((l) => Number(l.toFixed(2)));
  const lab = new NodeLab(232);
  const stoppers: (() => void)[] = [];
  const agent = lab.startAgent("warn");

  try {
    await agent
      .waitForLog((l) => l.msg === "agent API listening" || l.level >= 50, 15_000)
      .catch(() => undefined);
    await new Promise((r) => setTimeout(r, 1000));
    const client = lab.addPod("client");
    const server = lab.addPod("server");
    for (const [k, v] of [
      ["net.ipv4.ip_local_port_range", "1024 65535"],
      ["net.ipv4.tcp_tw_reuse", "1"],
    ]) {
      execFileSync("nsenter", [`--net=/run/netns/${client.netns}`, "sysctl", "-qw", `${k}=${v}`]);
    }
    mkdirSync(join(REPO, "build/bench"), { recursive: true });
    execFileSync("cc", ["-O2", "-Wall", "-o", TCP_LOAD, join(REPO, "bench/tcp-load.c")]);
    const servers: ChildProcess[] = [8080, 9090].map((port) =>
      spawn("nsenter", [`--net=/run/netns/${server.netns}`, TCP_LOAD, "server", String(port)], {
        stdio: "ignore",
      }),
    );
    stoppers.push(() => {
      for (const p of servers) p.kill("SIGKILL");
    });
    await new Promise((r) => setTimeout(r, 300));
    const proxy = lab.nodeHelper();
    await proxy.call("listenTransparent", { port: PROXY_PORT, identity: CLIENT });

    const detach = () => {
      for (const p of [client, server]) {
        try {
          lab.inNode("tc", ["qdisc", "del", "dev", p.hostInterface, "clsact"]);
        } catch {
          // already detached
        }
      }
    };
    const iptables = (rules: string) => lab.inNode("iptables-restore", [], rules);
    const clearIptables = () =>
      iptables("*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n");
    const applyStrait = async (n: number) => {
      const t0 = performance.now();
      const r = await agentRequest(
        lab.socket,
        "PUT",
        "/api/v1/desired-state",
        policyWriteState(n, client.ip, server.ip),
        120_000,
      );
      if (r.status !== 200)
        throw new Error(`PUT desired-state (${n}): ${r.status} ${JSON.stringify(r.body).slice(0, 500)}`);
      return performance.now() - t0;
    };

    /** The agent's CPU time (user + system) so far, in ms (clock ticks of 10 ms). */
    const agentCpuMs = () => {
      const fields = readFileSync(`/proc/${agent.child.pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
      return (Number(fields[11]) + Number(fields[12])) * 10;
    };
    const attribution = async () => {
      const ratios = { running: [] as number[], stopped: [] as number[], hookOnly: [] as number[] };
      const agentCpu: number[] = [];
      /** The programs' run time as a share of the machine's CPU time (all cores) during a sample. */
      const programShare: number[] = [];
      const nsPerRun: number[] = [];
      const CPUS = cpus().length;
      execFileSync("sysctl", ["-qw", "kernel.bpf_stats_enabled=1"]);
      stoppers.push(() => execFileSync("sysctl", ["-qw", "kernel.bpf_stats_enabled=0"]));
      const none = () => {
        detach();
        clearIptables();
        return measure(client, server.ip, 8080).rate;
      };
      // The programs' own run time under this traffic (kernel.bpf_stats_enabled: run_time_ns and
      // run_cnt per program, what `bpftool prog show` prints), summed over strait's programs.
      const programStats = () => {
        const progs = JSON.parse(
          execFileSync("bpftool", ["prog", "show", "--json"], { encoding: "utf8" }),
        ) as {
          name?: string;
          run_time_ns?: number;
          run_cnt?: number;
        }[];
        const ours = progs.filter((p) => p.name === "from_endpoint" || p.name === "to_endpoint");
        return {
          ns: ours.reduce((sum, p) => sum + (p.run_time_ns ?? 0), 0),
          runs: ours.reduce((sum, p) => sum + (p.run_cnt ?? 0), 0),
        };
      };
      const running = async () => {
        clearIptables();
        await applyStrait(10);
        const cpu0 = agentCpuMs();
        const stats0 = programStats();
        const t0 = process.hrtime.bigint();
        const rate = measure(client, server.ip, 8080).rate;
        const wallNs = Number(process.hrtime.bigint() - t0);
        const stats1 = programStats();
        agentCpu.push(agentCpuMs() - cpu0);
        programShare.push((stats1.ns - stats0.ns) / wallNs / CPUS);
        nsPerRun.push((stats1.ns - stats0.ns) / Math.max(1, stats1.runs - stats0.runs));
        return rate;
      };
      const stopped = async () => {
        clearIptables();
        await applyStrait(10);
        process.kill(agent.child.pid as number, "SIGSTOP");
        try {
          return measure(client, server.ip, 8080).rate;
        } finally {
          process.kill(agent.child.pid as number, "SIGCONT");
        }
      };
      // The hook alone: a clsact qdisc on both pods' host interfaces, no program in it.
      const hookOnly = () => {
        detach();
        clearIptables();
        for (const p of [client, server])
          lab.inNode("tc", ["qdisc", "add", "dev", p.hostInterface, "clsact"]);
        return measure(client, server.ip, 8080).rate;
      };
      const scenarios = [none, running, stopped, hookOnly];
      for (let i = 0; i < ATTRIBUTION; i++) {
        const rates: number[] = [];
        for (let j = 0; j < scenarios.length; j++) {
          const k = (i + j) % scenarios.length;
          rates[k] = await (scenarios[k] as () => number | Promise<number>)();
        }
        ratios.running.push((rates[1] as number) / (rates[0] as number));
        ratios.stopped.push((rates[2] as number) / (rates[0] as number));
        ratios.hookOnly.push((rates[3] as number) / (rates[0] as number));
      }
      const q = (values: number[], at: number) =>
        Number(([...values].sort((a, b) => a - b)[Math.floor(at * (values.length - 1))] ?? 0).toFixed(3));
      const spread = (values: number[]) => ({
        median: q(values, 0.5),
        q1: q(values, 0.25),
        q3: q(values, 0.75),
      });
      return {
        date: new Date().toISOString(),
        loadAverage: { start: startLoad, end: loadavg().map((l) => Number(l.toFixed(2))) },
        triples: ATTRIBUTION,
        durationMs: DURATION_MS,
        concurrency: CONCURRENCY,
        straitVsNoneAgentRunning: spread(ratios.running),
        straitVsNoneAgentStopped: spread(ratios.stopped),
        clsactWithoutProgramsVsNone: spread(ratios.hookOnly),
        agentCpuMsPerSample: spread(agentCpu),
        programsShareOfAllCpu: spread(programShare),
        programNsPerRun: spread(nsPerRun),
      };
    };

    const samples = new Map<string, Sample[]>();
    const add = (name: string, s: Sample) => samples.set(name, [...(samples.get(name) ?? []), s]);
    /** Per size, one time per round (ms). */
    const applyMs: Record<string, number[]> = {};
    const loadMs: Record<string, number[]> = {};
    const took = (into: Record<string, number[]>, name: string, ms: number) => {
      into[name] = [...(into[name] ?? []), Math.round(ms)];
    };
    const writes = (into: Record<string, number[]>) =>
      Object.fromEntries(Object.entries(into).map(([k, v]) => [k, { median: median(v), rounds: v }]));
    const l7: { direct: Sample[]; redirected: Sample[] } = { direct: [], redirected: [] };

    const straitRun = async (n: number) => {
      clearIptables();
      took(applyMs, `strait-${n}`, await applyStrait(n));
      if (!WRITES_ONLY) add(`strait-${n}`, measure(client, server.ip, 8080));
    };
    const iptablesRun = (n: number) => {
      detach();
      const t0 = performance.now();
      iptables(iptablesRules(n, client, server));
      took(loadMs, `iptables-${n}`, performance.now() - t0);
      if (!WRITES_ONLY) add(`iptables-${n}`, measure(client, server.ip, 8080));
    };
    if (ATTRIBUTION > 0) {
      console.log(JSON.stringify(await attribution(), null, 2));
      return;
    }

    // Neighbours in time are the ones compared (strait vs iptables at a size, each vs none), and the
    // order flips every round, so drift on a shared machine spreads over all scenarios alike.
    for (let round = 0; round < ROUNDS; round++) {
      const steps: (() => Promise<void> | void)[] = [];
      if (!WRITES_ONLY) {
        steps.push(() => {
          detach();
          clearIptables();
          add("none", measure(client, server.ip, 8080));
        });
      }
      for (const n of SIZES) {
        steps.push(() => straitRun(n));
        steps.push(() => iptablesRun(n));
      }
      steps.push(async () => {
        clearIptables();
        // Also in WRITES_ONLY: every strait-N write then starts from a state of another size.
        await applyStrait(10);
        if (WRITES_ONLY) return;
        // One connection at a time: the added latency of the redirect, not the test proxy's throughput.
        l7.direct.push(measure(client, server.ip, 8080, 1));
        l7.redirected.push(measure(client, server.ip, 9090, 1));
      });
      if (round % 2 === 1) steps.reverse();
      for (const step of steps) await step();
    }

    // The cost over no policy, paired: none and strait-10 measured back to back (order alternating),
    // so each ratio compares neighbours in time and the machine's drift between rounds cancels out.
    const pairRatios: number[] = [];
    for (let i = 0; i < PAIRS; i++) {
      const none = () => {
        detach();
        clearIptables();
        return measure(client, server.ip, 8080);
      };
      const strait = async () => {
        clearIptables();
        await applyStrait(10);
        return measure(client, server.ip, 8080);
      };
      if (i % 2 === 0) {
        const n = none();
        pairRatios.push((await strait()).rate / n.rate);
      } else {
        const t = await strait();
        pairRatios.push(t.rate / none().rate);
      }
    }
    const sortedRatios = [...pairRatios].sort((x, y) => x - y);
    const quartile = (q: number) =>
      Number((sortedRatios[Math.floor(q * (sortedRatios.length - 1))] ?? 0).toFixed(3));

    const result: Record<string, unknown> = {
      date: new Date().toISOString(),
      loadAverage: { start: startLoad, end: loadavg().map((l) => Number(l.toFixed(2))) },
      durationMs: DURATION_MS,
      concurrency: CONCURRENCY,
      rounds: ROUNDS,
      scenarios: Object.fromEntries([...samples].map(([k, v]) => [k, summarize(v)])),
      l7Redirect: { direct: summarize(l7.direct), redirected: summarize(l7.redirected) },
      straitApplyMs: writes(applyMs),
      iptablesRestoreMs: writes(loadMs),
      straitVsIptablesWriteTime: Object.fromEntries(
        SIZES.map((n) => [
          n,
          Number((median(applyMs[`strait-${n}`] ?? []) / median(loadMs[`iptables-${n}`] ?? [])).toFixed(2)),
        ]),
      ),
      ...(WRITES_ONLY ? {} : { kernelCostPerPacket: kernelCost() }),
    };
    const rate = (k: string) =>
      (result.scenarios as Record<string, { newConnectionsPerSecond: number }>)[k]?.newConnectionsPerSecond ??
      Number.NaN;
    result.targets = {
      strait100kVs10: Number((rate("strait-100000") / rate("strait-10")).toFixed(3)),
      strait10kVsIptables10k: Number((rate("strait-10000") / rate("iptables-10000")).toFixed(2)),
      straitVsNone: Number((rate("strait-10") / rate("none")).toFixed(3)),
      straitVsNonePaired: { pairs: PAIRS, median: quartile(0.5), q1: quartile(0.25), q3: quartile(0.75) },
    };
    const text = `${JSON.stringify(result, null, 2)}\n`;
    console.log(text);
    if (process.env.BENCH_OUT !== undefined) writeFileSync(resolve(process.env.BENCH_OUT), text);
  } finally {
    for (const stop of stoppers) stop();
    await agent.stop("SIGKILL");
    try {
      lab.inNode(
        "iptables-restore",
        [],
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n",
      );
    } catch {
      // the namespace goes away anyway
    }
    lab.cleanup();
  }
}

await main();
