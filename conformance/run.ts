/**
 * `npm run conformance`: plays the official Gateway API conformance tests
 * through strait (controller pipeline for statuses; traffic through a real
 * Envoy, `--engine envoy`, cross-checked against the simulator, or through
 * the simulator alone, `--engine simulator`), writes a ConformanceReport
 * (its `mode` names the engine) and prints a summary table. Plays the tests
 * of the selected profiles and the tests of no profile of their family
 * (`selectTests`). Exits 1 when a test it played fails and is not on the skip
 * list, or when the simulator and Envoy disagree on any request.
 *
 *   node conformance/run.ts [--engine envoy|simulator] [--xds delta|sotw] [--manifests DIR]
 *     [--profiles GATEWAY-HTTP,GATEWAY-TLS,GATEWAY-GRPC,MESH-HTTP,MESH-GRPC] [--test NAME]... [--report FILE] [--verbose]
 *
 * MESH-HTTP and MESH-GRPC on the Envoy engine are the MESH mode
 * (envoy/mesh-pods.ts): it needs root, and without it those profiles are
 * skipped with that reason.
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { parse, stringify } from "yaml";
import { gatewayApiDir } from "../test/support/gateway-api-data.ts";
import { type Catalogue, loadCatalogue, type ProfileData, type TestData } from "./catalogue.ts";
import { EnvoyDataPlane } from "./envoy/envoy-data-plane.ts";
import { meshUnavailable } from "./envoy/mesh-pods.ts";
import { inOwnNetwork, rerunInOwnNetwork } from "./envoy/netns.ts";
import { type HarnessOptions, runTest, type TestResult } from "./harness.ts";
import { MUTATIONS, NOTE_CHECKS } from "./mutations.ts";
import { type ConformanceReport, profileReport, type TestOutcome } from "./report.ts";
import {
  createStraitTarget,
  straitHarnessOptions,
  straitSupportedFeatures,
  straitVersion,
} from "./strait-target.ts";

const HERE = import.meta.dirname;

interface SkipEntry {
  readonly test: string;
  readonly reason: string;
}

/**
 * Tests that skip themselves when a feature is supported (the catalogue's
 * notes: "The test skips itself when X is among the supported features"):
 * they check the behaviour of implementations without it.
 */
const SKIPPED_WHEN_SUPPORTED: Readonly<Record<string, string>> = {
  TLSRouteListenerMixedTerminationNotSupported: "TLSRouteModeMixed",
  TLSRouteListenerTerminateNotSupported: "TLSRouteModeTerminate",
};

function isMeshProfile(name: string): boolean {
  return name.startsWith("MESH-");
}

/** The features that say which kind of implementation a test is for: a Gateway or a mesh. */
const FAMILY_FEATURES = ["Gateway", "Mesh"];

/**
 * The tests a run plays: those of the selected profiles, and those of no
 * profile whose family (Gateway or Mesh) a selected profile has. The official
 * suite runs every test whose features are all supported, whatever its
 * profiles (suite.Run); a test needing a feature outside every profile
 * (MeshFrontend needs HTTPRouteResponseHeaderModification, which MESH-HTTP
 * does not list) belongs to no profile there either. Here the profiles choose
 * the family, so `--profiles MESH-HTTP` plays no Gateway test.
 */
export function selectTests(tests: readonly TestData[], profiles: readonly ProfileData[]): TestData[] {
  const families = new Set(
    profiles.flatMap((p) => p.coreFeatures.filter((f) => FAMILY_FEATURES.includes(f))),
  );
  return tests.filter(
    (t) =>
      t.profiles.some((p) => profiles.some((q) => q.name === p)) ||
      (t.profiles.length === 0 && t.features.some((f) => families.has(f))),
  );
}

function readSkipList(): ReadonlyMap<string, string> {
  const data = parse(readFileSync(join(HERE, "skip-list.yaml"), "utf8")) as { skipped?: SkipEntry[] } | null;
  return new Map((data?.skipped ?? []).map((s) => [s.test, s.reason]));
}

export async function main(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      manifests: { type: "string" },
      profiles: { type: "string", default: "GATEWAY-HTTP,GATEWAY-TLS,GATEWAY-GRPC,MESH-HTTP,MESH-GRPC" },
      test: { type: "string", multiple: true },
      report: { type: "string" },
      verbose: { type: "boolean", short: "v", default: false },
      engine: { type: "string", default: "envoy" },
      xds: { type: "string", default: "delta" },
    },
  });
  const engine = values.engine;
  if (engine !== "envoy" && engine !== "simulator") {
    console.error(`--engine must be envoy or simulator, got ${engine}`);
    return 2;
  }
  if (values.xds !== "delta" && values.xds !== "sotw") {
    console.error(`--xds must be delta or sotw, got ${values.xds}`);
    return 2;
  }
  if (engine === "envoy" && !inOwnNetwork()) return rerunInOwnNetwork(import.meta.filename, argv);
  const dataDir = gatewayApiDir();
  const manifestsDir = resolve(values.manifests ?? join(dataDir, "conformance"));
  const catalogue = loadCatalogue(dataDir);
  const asked = catalogue.profiles.filter((p) => values.profiles.split(",").includes(p.name));
  if (asked.length === 0) {
    console.error(
      `unknown profiles ${values.profiles}; known: ${catalogue.profiles.map((p) => p.name).join(", ")}`,
    );
    return 2;
  }
  // The mesh profiles' requests come from mesh client Pods, through the datapath on the Envoy engine.
  const meshWhy = engine === "envoy" ? meshUnavailable() : undefined;
  const profiles = asked.filter((p) => !(isMeshProfile(p.name) && meshWhy !== undefined));
  for (const p of asked)
    if (!profiles.includes(p)) console.log(`profile ${p.name} skipped on the Envoy engine: ${meshWhy}`);
  if (profiles.length === 0) return 0;
  const skip = readSkipList();
  const supported = straitSupportedFeatures();
  const options = await straitHarnessOptions(dataDir, catalogue, manifestsDir);
  const plane =
    engine === "envoy"
      ? await EnvoyDataPlane.start({ api: values.xds, mesh: profiles.some((p) => isMeshProfile(p.name)) })
      : undefined;
  try {
    return await runAll(values, catalogue, profiles, supported, skip, options, plane);
  } finally {
    await plane?.close();
  }
}

async function runAll(
  values: { test?: string[] | undefined; report?: string | undefined; verbose: boolean },
  catalogue: Catalogue,
  profiles: readonly ProfileData[],
  supported: ReadonlySet<string>,
  skip: ReadonlyMap<string, string>,
  options: HarnessOptions,
  plane: EnvoyDataPlane | undefined,
): Promise<number> {
  const target = createStraitTarget(plane);
  const mode = plane === undefined ? "standalone-simulated" : "standalone-envoy";

  const selected = selectTests(catalogue.tests, profiles).filter(
    (t) => values.test === undefined || values.test.includes(t.name),
  );
  const outcomes: TestOutcome[] = [];
  const failures: TestResult[] = [];
  const started = performance.now();
  for (const test of selected) {
    const unsupported = test.features.filter((f) => !supported.has(f));
    const selfSkip = SKIPPED_WHEN_SUPPORTED[test.name];
    if (
      skip.has(test.name) ||
      unsupported.length > 0 ||
      (selfSkip !== undefined && supported.has(selfSkip))
    ) {
      outcomes.push({ test, result: "skipped" });
      continue;
    }
    if (plane !== undefined) plane.currentTest = test.name;
    const result = await runTest(
      target,
      options,
      test,
      MUTATIONS[test.name] ?? [],
      NOTE_CHECKS[test.name] ?? [],
    );
    outcomes.push({ test, result: result.passed ? "passed" : "failed" });
    if (!result.passed) failures.push(result);
    if (values.verbose || !result.passed) printTest(result, test);
  }
  const elapsed = (performance.now() - started) / 1000;

  const report: ConformanceReport = {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "ConformanceReport",
    implementation: {
      organization: "strait",
      project: "strait",
      url: "https://github.com/strait-dev/strait",
      version: straitVersion(),
      contact: ["@strait-dev/maintainers"],
    },
    date: new Date().toISOString(),
    gatewayAPIVersion: catalogue.version,
    // The channel whose CRDs hold every field the claimed features use: a claimed
    // experimental-channel feature (HTTPRouteRetry's `retry`) is pruned by the standard
    // channel's schema on a real API server, as the official run showed.
    gatewayAPIChannel: catalogue.features.some((f) => f.channel === "experimental" && supported.has(f.name))
      ? "experimental"
      : "standard",
    mode,
    profiles: profiles.map((p) => profileReport(p, outcomes, supported)),
    succeededProvisionalTests: outcomes
      .filter((o) => o.result === "passed" && o.test.provisional === true)
      .map((o) => o.test.name)
      .sort(),
  };
  const reportFile = values.report ?? join(HERE, "reports", catalogue.version, `strait-${mode}-report.yaml`);
  mkdirSync(dirname(reportFile), { recursive: true });
  writeFileSync(reportFile, stringify(report, { lineWidth: 0 }));

  printSummary(report, elapsed, reportFile);
  printOutsideProfiles(outcomes);
  if (plane !== undefined) printEnvoySummary(plane);
  const unexpected = failures.filter((f) => !skip.has(f.name));
  for (const [name, reason] of skip) {
    const o = outcomes.find((x) => x.test.name === name);
    if (o !== undefined) console.log(`skipped ${name}: ${reason}`);
  }
  return unexpected.length > 0 || (plane?.disagreements.length ?? 0) > 0 ? 1 : 0;
}

function printEnvoySummary(plane: EnvoyDataPlane): void {
  const times = [...plane.syncTimes].sort((a, b) => a - b);
  const at = (q: number) => (times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? 0).toFixed(0);
  console.log(
    `Envoy (${plane.api} xDS): ${plane.requests} requests over real sockets; ${times.length} configurations ACKed and running, p50 ${at(0.5)} ms, p99 ${at(0.99)} ms from publish; ${plane.disagreements.length} disagreements with the simulator`,
  );
  for (const d of plane.disagreements) {
    console.log(`DISAGREE ${d.test}: ${d.request}`);
    for (const line of d.differences) console.log(`    ${line}`);
  }
}

function printTest(result: TestResult, test: TestData): void {
  console.log(`${result.passed ? "PASS" : "FAIL"} ${test.name}`);
  for (const e of result.errors) console.log(`    error: ${e}`);
  for (const c of result.checks) {
    if (c.outcome.ok) continue;
    console.log(
      `    check #${c.index} ${c.check}${c.subtest === undefined ? "" : ` [${c.subtest}]`}: ${c.outcome.message}`,
    );
  }
}

/**
 * The tests of no profile: like upstream's ConformanceReport, the report counts
 * them in no profile (only a passed provisional one is named, in
 * succeededProvisionalTests), so the summary says how they went.
 */
function printOutsideProfiles(outcomes: readonly TestOutcome[]): void {
  const outside = outcomes.filter((o) => o.test.profiles.length === 0);
  if (outside.length === 0) return;
  const names = (r: TestOutcome["result"]) =>
    outside
      .filter((o) => o.result === r)
      .map((o) => o.test.name)
      .sort();
  const line = (r: TestOutcome["result"]) =>
    `${names(r).length} ${r}${names(r).length > 0 ? ` (${names(r).join(", ")})` : ""}`;
  console.log(
    `in no profile (played as the official suite plays them, counted in no profile): ${line("passed")}; ${line("failed")}; ${line("skipped")}`,
  );
}

function printSummary(report: ConformanceReport, seconds: number, file: string): void {
  const rows = report.profiles.flatMap((p) => [
    [
      p.name,
      "core",
      p.core.result,
      p.core.statistics.Passed,
      p.core.statistics.Failed,
      p.core.statistics.Skipped,
    ],
    [
      p.name,
      "extended",
      p.extended?.result ?? "-",
      p.extended?.statistics.Passed ?? 0,
      p.extended?.statistics.Failed ?? 0,
      p.extended?.statistics.Skipped ?? 0,
    ],
  ]);
  const header = ["profile", "level", "result", "passed", "failed", "skipped"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  const line = (cells: readonly unknown[]) =>
    cells.map((c, i) => String(c).padEnd(widths[i] ?? 0)).join("  ");
  console.log(`\n${line(header)}\n${line(widths.map((w) => "-".repeat(w)))}`);
  for (const r of rows) console.log(line(r));
  console.log(`\n${seconds.toFixed(1)} s; report: ${file}`);
}

if (import.meta.main) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      console.error(error);
      process.exitCode = 70;
    },
  );
}
