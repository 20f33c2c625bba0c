/**
 * Benchmarks of what users run: the `strait` command as a whole process.
 *
 * - start: `strait version`, `strait status|translate -f examples/quickstart` with
 *   hyperfine (Debian package `hyperfine`), beside a bare `node -e 0` (the floor) and the
 *   same commands from the TypeScript sources (STRAIT_FROM_SOURCE=1, no bundle).
 * - scale: `strait translate -o json` of the generated configuration (bench/manifests.ts)
 *   at 1,000 / 5,000 / 50,000 routes: wall time, CPU time and peak RSS (GNU time).
 * - egctl: the same configurations (with Envoy Gateway's controllerName) through
 *   `egctl x translate --from gateway-api --to xds` (scripts/build-egctl.sh), run
 *   alternately with `strait translate` so both see the same load.
 *
 * Usage: node bench/cli.ts [start|scale|egctl]... [--routes 1000,5000] [--runs N]
 * Prints Markdown tables for bench/RESULTS.md, with the load average before and after.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { manifestsYaml } from "./manifests.ts";

const ROOT = join(import.meta.dirname, "..");
const STRAIT = join(ROOT, "bin/strait");
const NODE = join(ROOT, "node_modules/.bin/node");
const DATA = join(ROOT, "build/bench");
const EG_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller";

const args = process.argv.slice(2);
const flag = (name: string) => {
  const i = args.indexOf(name);
  return i < 0 ? undefined : args[i + 1];
};
const stages = args.filter((a, i) => !a.startsWith("--") && !args[i - 1]?.startsWith("--"));
const runs = Number(flag("--runs") ?? 3);

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(1))
    .join(" / ");
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** CLI start with hyperfine: mean and min wall time, mean user+system CPU time. */
function start(): void {
  const out = join(tmpdir(), `strait-hyperfine-${process.pid}.json`);
  const quickstart = join(ROOT, "examples/quickstart");
  const commands: [string, string][] = [
    ["node -e 0 (the floor)", `${NODE} -e 0`],
    ["strait version", `${STRAIT} version`],
    ["strait status -f examples/quickstart", `${STRAIT} status -f ${quickstart}`],
    ["strait translate -f examples/quickstart", `${STRAIT} translate -f ${quickstart}`],
    ["from source: strait version", `env STRAIT_FROM_SOURCE=1 ${STRAIT} version`],
    ["from source: strait status", `env STRAIT_FROM_SOURCE=1 ${STRAIT} status -f ${quickstart}`],
    ["from source: strait translate", `env STRAIT_FROM_SOURCE=1 ${STRAIT} translate -f ${quickstart}`],
  ];
  const before = load();
  execFileSync(
    "hyperfine",
    [
      "-N",
      "--warmup",
      "3",
      "--runs",
      String(Math.max(runs, 10)),
      "--export-json",
      out,
      "--style",
      "none",
      ...commands.flatMap(([name, cmd]) => ["-n", name, cmd]),
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  const results = (
    JSON.parse(readFileSync(out, "utf8")) as {
      results: { command: string; mean: number; median: number; min: number; user: number; system: number }[];
    }
  ).results;
  rmSync(out, { force: true });
  console.log(
    `\nCLI start, ${Math.max(runs, 10)} runs each after 3 warm-ups; load average ${before} → ${load()}\n`,
  );
  console.log("| command | wall median (ms) | wall min (ms) | CPU user+sys mean (ms) |");
  console.log("| --- | --- | --- | --- |");
  for (const r of results) {
    console.log(
      `| ${r.command} | ${fmt(r.median * 1000)} | ${fmt(r.min * 1000)} | ${fmt((r.user + r.system) * 1000)} |`,
    );
  }
}

interface Measure {
  readonly wall: number;
  readonly cpu: number;
  readonly rssMiB: number;
  readonly code: number;
}

/** One whole-process run under GNU time; stdout discarded. */
function measure(command: string, commandArgs: readonly string[]): Measure {
  const timeOut = join(tmpdir(), `strait-time-${process.pid}.txt`);
  const r = spawnSync("/usr/bin/time", ["-o", timeOut, "-f", "%e %U %S %M", command, ...commandArgs], {
    stdio: ["ignore", "ignore", "pipe"],
    maxBuffer: 256 * 1024 * 1024,
  });
  const [wall, user, sys, rss] =
    readFileSync(timeOut, "utf8").trim().split("\n").at(-1)?.split(" ").map(Number) ?? [];
  rmSync(timeOut, { force: true });
  if (r.status !== 0)
    process.stderr.write(`${command} exited ${r.status}: ${String(r.stderr).slice(0, 2000)}\n`);
  return {
    wall: wall ?? NaN,
    cpu: (user ?? NaN) + (sys ?? NaN),
    rssMiB: (rss ?? NaN) / 1024,
    code: r.status ?? -1,
  };
}

function configFile(routes: number, controller?: string): string {
  mkdirSync(DATA, { recursive: true });
  const file = join(DATA, `routes-${routes}${controller === undefined ? "" : "-eg"}.yaml`);
  if (!existsSync(file)) writeFileSync(file, manifestsYaml(routes, controller));
  return file;
}

function routeCounts(fallback: string): number[] {
  return (flag("--routes") ?? fallback).split(",").map(Number);
}

function row(label: string, ms: readonly Measure[]): string {
  const each = ms.map((m) => `${fmt(m.wall, 1)} s / ${fmt(m.cpu, 1)} s / ${fmt(m.rssMiB)} MiB`).join("; ");
  return `| ${label} | ${fmt(median(ms.map((m) => m.wall)), 1)} | ${fmt(median(ms.map((m) => m.cpu)), 1)} | ${fmt(Math.max(...ms.map((m) => m.rssMiB)))} | ${each} |`;
}

function scale(): void {
  const before = load();
  const lines: string[] = [];
  for (const routes of routeCounts("1000,5000,50000")) {
    const file = configFile(routes);
    const n = routes >= 50_000 ? 1 : runs;
    const ms = Array.from({ length: n }, () => measure(STRAIT, ["translate", "-f", file, "-o", "json"]));
    lines.push(row(`strait translate, ${fmt(routes)} routes`, ms));
  }
  console.log(`\nstrait translate -o json through the CLI; load average ${before} → ${load()}\n`);
  console.log("| run | wall median (s) | CPU median (s) | peak RSS max (MiB) | each run: wall / CPU / RSS |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const l of lines) console.log(l);
}

function egctl(): void {
  const binary = execFileSync(join(ROOT, "scripts/build-egctl.sh"), ["--print"], { encoding: "utf8" }).trim();
  const before = load();
  const lines: string[] = [];
  for (const routes of routeCounts("1000,5000")) {
    const strait = configFile(routes);
    const eg = configFile(routes, EG_CONTROLLER);
    const s: Measure[] = [];
    const e: Measure[] = [];
    for (let i = 0; i < runs; i++) {
      // Alternate, so both see the same load.
      s.push(measure(STRAIT, ["translate", "-f", strait, "-o", "json"]));
      e.push(
        measure(binary, [
          "x",
          "translate",
          "--from",
          "gateway-api",
          "--to",
          "xds",
          "-f",
          eg,
          "--output",
          "json",
        ]),
      );
    }
    lines.push(row(`strait translate, ${fmt(routes)} routes`, s));
    lines.push(row(`egctl x translate, ${fmt(routes)} routes`, e));
    const ratio = median(e.map((m) => m.wall)) / median(s.map((m) => m.wall));
    const mem = Math.max(...s.map((m) => m.rssMiB)) / Math.max(...e.map((m) => m.rssMiB));
    lines.push(
      `| ratio at ${fmt(routes)} | egctl/strait wall ${fmt(ratio, 2)}× | egctl/strait CPU ${fmt(median(e.map((m) => m.cpu)) / median(s.map((m) => m.cpu)), 2)}× | strait/egctl RSS ${fmt(mem, 2)} | |`,
    );
  }
  console.log(
    `\nstrait vs egctl (Envoy Gateway), same input, runs alternated; load average ${before} → ${load()}\n`,
  );
  console.log("| run | wall median (s) | CPU median (s) | peak RSS max (MiB) | each run: wall / CPU / RSS |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const l of lines) console.log(l);
}

const STAGES: Record<string, () => void> = { start, scale, egctl };
for (const stage of stages.length === 0 ? ["start", "scale"] : stages) {
  const run = STAGES[stage];
  if (run === undefined) {
    console.error(`unknown stage ${stage} (start, scale, egctl)`);
    process.exit(2);
  }
  run();
}
