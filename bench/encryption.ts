/**
 * `flock /tmp/strait-kernel.lock npm run bench:encryption -- [seconds] [MiB]` (root): what the
 * encrypted tunnel (`--auth-encryption envoy`) costs against the same flows authenticated only
 * (the auth map) and against no policy, on one lab (test/support/encryption-lab.ts: two node
 * namespaces, a `strait agent` and a real Envoy per node, the controller, pods made by the real
 * CNI chain; the client pod on node A, the server pod on node B). For each mode, after the
 * controller restarted into it:
 *
 * - first connection: connect, one line and its echo, close, the first of its mode (with auth
 *   only, the first SYN is dropped until the agents authenticate; encrypted, the node Envoys'
 *   TLS handshake happens in-line);
 * - connections: sequential fresh connections (connect, line, echo, close) for `seconds`, at
 *   concurrency 1 and 8: rate, latency p50/p99;
 * - round trip: 2,000 lines echoed on one connection, p50/p99;
 * - bulk: `MiB` sent on one connection to a sink: throughput, and the CPU time both node
 *   Envoys spent on it (from /proc), per GiB.
 *
 * Prints one JSON object.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { EncryptionLab, type Mode, SERVER_PORT, SINK_PORT } from "../test/support/encryption-lab.ts";
import { sweepLeftovers } from "../test/support/netns-lab.ts";

const SECONDS = Number(process.argv[2] ?? 5);
const MIB = Number(process.argv[3] ?? 256);

if (process.getuid?.() !== 0) {
  console.error("bench/encryption.ts needs root (network namespaces, eBPF, TPROXY)");
  process.exit(2);
}

const TICKS_PER_SECOND = 100;

function cpuSeconds(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  // utime and stime are fields 14 and 15 of stat; after "pid (comm) " they are at 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

const MODES: readonly (Mode & { name: string })[] = [
  { name: "no policy", encryption: false, policy: false },
  { name: "auth required (auth map, not encrypted)", encryption: false, policy: true },
  { name: "auth required, encrypted (node Envoys' tunnel)", encryption: true, policy: true },
];

sweepLeftovers();
const lab = new EncryptionLab(243, 244, 6);
const results: Record<string, unknown>[] = [];
try {
  for (const [i, mode] of MODES.entries()) {
    if (i === 0) {
      await lab.start(mode);
      // Tens of thousands of short connections leave the client's ports in TIME_WAIT (60 s):
      // the whole port range, and reuse of those, or a later mode runs out (EADDRNOTAVAIL).
      execFileSync("ip", [
        "netns",
        "exec",
        lab.client.netns,
        "sysctl",
        "-qw",
        "net.ipv4.ip_local_port_range=1024 65535",
      ]);
      execFileSync("ip", ["netns", "exec", lab.client.netns, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1"]);
    } else await lab.restart(mode);
    const call = (op: string, args: Record<string, unknown>) => lab.client.helper.call(op, args);
    const t0 = performance.now();
    const first = await call("tcpConnect", { host: lab.server.ip, port: SERVER_PORT, timeoutMs: 10_000 });
    const firstMs = performance.now() - t0;
    if (first.ok !== true) throw new Error(`${mode.name}: first connection failed: ${JSON.stringify(first)}`);
    const load = async (concurrency: number) =>
      call("loadTcp", { host: lab.server.ip, port: SERVER_PORT, concurrency, durationMs: SECONDS * 1000 });
    const c1 = await load(1);
    const c8 = await load(8);
    const rtt = await call("pingPong", { host: lab.server.ip, port: SERVER_PORT, count: 2000 });
    const envoysBefore = cpuSeconds(lab.envoyA?.pid) + cpuSeconds(lab.envoyB?.pid);
    const bulk = await call("sendBulk", {
      host: lab.server.ip,
      port: SINK_PORT,
      bytes: MIB * 1024 * 1024,
      timeoutMs: 300_000,
    });
    const envoyCpu = cpuSeconds(lab.envoyA?.pid) + cpuSeconds(lab.envoyB?.pid) - envoysBefore;
    if (bulk.ok !== true) throw new Error(`${mode.name}: bulk failed: ${JSON.stringify(bulk)}`);
    const perSecond = (r: Record<string, unknown>) => Number(r.connections) / Number(r.seconds);
    results.push({
      mode: mode.name,
      firstConnectionMs: Number(firstMs.toFixed(1)),
      connections1: { perSecond: Math.round(perSecond(c1)), p50: c1.p50, p99: c1.p99, errors: c1.errors },
      connections8: { perSecond: Math.round(perSecond(c8)), p50: c8.p50, p99: c8.p99, errors: c8.errors },
      roundTrip: { p50: rtt.p50, p99: rtt.p99 },
      bulk: {
        mib: MIB,
        mibPerSecond: Number((MIB / Number(bulk.seconds)).toFixed(1)),
        envoyCpuSecondsPerGiB: Number(((envoyCpu * 1024) / MIB).toFixed(2)),
      },
    });
  }
} finally {
  await lab.stop();
}
console.log(
  JSON.stringify(
    { date: new Date().toISOString(), cpu: cpus()[0]?.model, loadavg: loadavg(), seconds: SECONDS, results },
    null,
    2,
  ),
);
