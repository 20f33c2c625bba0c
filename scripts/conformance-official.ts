/**
 * `make conformance-official`: the official Gateway API conformance suite
 * (v1.6.1, its own Go test binary) against strait in cluster mode on a real
 * control plane, with a real Envoy serving the Gateways' addresses.
 *
 * 1. builds or finds the Go fixtures (scripts/build-fixtures.sh);
 * 2. starts etcd, kube-apiserver and kube-controller-manager on loopback, and
 *    the node stand-in, which runs the suite's echo pods (upstream echo-basic)
 *    in network namespaces (root);
 * 3. applies the v1.6.1 CRDs of the experimental channel and the GatewayClass
 *    `strait`. Experimental, because strait claims HTTPRouteRetry, an
 *    experimental-channel field: the standard channel's HTTPRoute schema has no
 *    `retry`, so the API server prunes it and the retry test fails for a field
 *    that never reached strait (`--channel standard` to run on that channel);
 * 4. starts `strait run --kubeconfig` with a loopback address pool, and an
 *    Envoy (src/envoy ManagedEnvoy) bootstrapped to strait's xDS server as the
 *    node's proxy, so each Gateway answers on its address;
 * 5. runs the conformance binary with --gateway-class=strait, the profiles
 *    (default: GATEWAY-HTTP, and GATEWAY-GRPC / GATEWAY-TLS once the GatewayClass
 *    claims GRPCRoute / TLSRoute),
 *    the GatewayClass status' supportedFeatures (without the Mesh ones: the suite's
 *    mesh tests exec into Pods, which needs a kubelet) and --report-output.
 *
 * Every component's log is kept in --logs (default .cache/conformance-official/):
 * strait.log, envoy.log (and Envoy's config dump and stats at the end), the
 * control plane's, and the suite's own output.
 * Exits non-zero when the suite fails or a profile's core or extended result
 * is not success.
 *
 *   node scripts/conformance-official.ts [--profiles P1,P2] [--report FILE]
 *     [--run-test NAME] [--skip-tests A,B] [--logs DIR] [--debug] [-- SUITE-FLAGS...]
 */
import { spawn } from "node:child_process";
import {
  copyFileSync,
  createWriteStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { parse } from "yaml";
import { ManagedEnvoy } from "../src/envoy/index.ts";
import { Applier, readManifests } from "../test/support/control-plane/apply.ts";
import { ControlPlane, componentDir, freePort } from "../test/support/control-plane/control-plane.ts";
import { fixtureBinaries } from "../test/support/control-plane/fixtures.ts";
import { NODE_SKIP_REASON, NodeStandIn } from "../test/support/control-plane/node-stand-in.ts";
import { gatewayApiDir } from "../test/support/gateway-api-data.ts";
import { REPO, StraitProcess } from "../test/support/strait-process.ts";

const DEFAULT_REPORT = join(REPO, "conformance/reports/v1.6.1/strait-official-report.yaml");

/** The Gateways' address pool (loopback: the node's Envoy binds every Gateway's address here). */
const ADDRESS_POOL = "127.0.213.0/24";
const USABLE_ADDRESS = "127.0.213.250";

/** Tests this machine cannot run, each with the reason (passed to --skip-tests). */
const SKIPPED: Readonly<Record<string, string>> = {};

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      profiles: { type: "string" },
      report: { type: "string", default: DEFAULT_REPORT },
      "run-test": { type: "string" },
      "skip-tests": { type: "string" },
      logs: { type: "string", default: join(REPO, ".cache/conformance-official") },
      debug: { type: "boolean", default: false },
      channel: { type: "string", default: "experimental" },
    },
  });
  if (values.channel !== "experimental" && values.channel !== "standard") {
    console.error(`conformance-official: --channel is experimental or standard, not ${values.channel}`);
    return 2;
  }
  const logs = resolve(values.logs);
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(logs, { recursive: true });
  if (NODE_SKIP_REASON !== undefined) {
    console.error(`conformance-official: ${NODE_SKIP_REASON}`);
    return 2;
  }
  const log = pino({ level: "info" });
  const bins = fixtureBinaries();
  const stops: (() => Promise<unknown>)[] = [];
  const stopAll = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  };
  process.once("SIGINT", () => void stopAll().then(() => process.exit(130)));
  try {
    log.info("starting the control plane");
    const plane = await ControlPlane.start();
    stops.push(async () => {
      for (const f of readdirSync(plane.dir).filter((n) => n.endsWith(".log")))
        copyFileSync(join(plane.dir, f), join(logs, f));
      await plane.stop();
    });
    const node = await NodeStandIn.start(plane, {
      dir: componentDir(plane, "node"),
      echoBasic: bins.echoBasic,
    });
    stops.push(() => node.stop());

    const applier = new Applier(plane.admin);
    const crdDir = join(gatewayApiDir(), "config/crd", values.channel);
    const crds = [
      "gatewayclasses",
      "gateways",
      "httproutes",
      "grpcroutes",
      "referencegrants",
      "backendtlspolicies",
      "listenersets",
      "tlsroutes",
    ]
      .flatMap((k) => readManifests(join(crdDir, `gateway.networking.k8s.io_${k}.yaml`)))
      .filter((m) => m.kind === "CustomResourceDefinition");
    await applier.apply(crds);
    await applier.waitEstablished(crds);
    await applier.apply([
      {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "GatewayClass",
        metadata: { name: "strait" },
        spec: { controllerName: "strait.dev/gateway-controller" },
      },
    ]);

    const xdsPort = await freePort();
    const strait = new StraitProcess([
      "run",
      "--kubeconfig",
      plane.adminKubeconfig,
      "--namespace",
      "kube-system",
      "--http-address",
      "127.0.0.1:0",
      "--xds-address",
      `127.0.0.1:${xdsPort}`,
      "--address-pool",
      ADDRESS_POOL,
    ]);
    stops.push(async () => {
      await strait.stop();
      writeFileSync(join(logs, "strait.log"), strait.logs.map((l) => `${JSON.stringify(l)}\n`).join(""));
    });
    await strait.waitForLog((l) => l.msg.startsWith("operations server listening"), 60_000);

    const envoy = new ManagedEnvoy({
      binary: join(REPO, "build/bin/envoy"),
      bootstrap: {
        nodeId: "strait-node-envoy",
        node: node.name,
        xds: { host: "127.0.0.1", port: xdsPort },
        api: "delta",
        admin: { host: "127.0.0.1", port: 0 },
      },
      logger: pino({ level: "info" }, pino.destination({ dest: join(logs, "envoy.log"), sync: true })),
      logLevel: "warn",
    });
    await envoy.start();
    stops.push(async () => {
      // What Envoy was given and counted, for reading a failed test.
      for (const [path, file] of [
        ["/config_dump?include_eds", "envoy-config-dump.json"],
        ["/stats", "envoy-stats.txt"],
      ] as const) {
        const res = await fetch(`http://${envoy.adminAddress}${path}`).catch(() => undefined);
        if (res?.ok) writeFileSync(join(logs, file), await res.text());
      }
      await envoy.stop();
    });

    // The features strait claims, from the GatewayClass status it wrote.
    let features: string[] = [];
    for (let i = 0; i < 300 && features.length === 0; i++) {
      const res = await plane.admin.request(
        "GET",
        "/apis/gateway.networking.k8s.io/v1/gatewayclasses/strait",
      );
      const status = res.ok
        ? (res.body as { status?: { supportedFeatures?: { name: string }[] } }).status
        : undefined;
      features = (status?.supportedFeatures ?? []).map((f) => f.name);
      if (features.length === 0) await new Promise((r) => setTimeout(r, 200));
    }
    if (features.length === 0) throw new Error("the GatewayClass status lists no supportedFeatures");
    // The suite's mesh tests send from inside an echo Pod through the pod exec API (a kubelet's
    // streaming endpoint), which the node stand-in does not serve; claiming Mesh here would have the
    // suite deploy the mesh Pods and fail for that alone. MESH-HTTP runs in the in-repo runner
    // (conformance/, its MESH mode, through the real datapath redirect).
    features = features.filter((f) => !f.startsWith("Mesh"));

    const report = resolve(values.report);
    mkdirSync(dirname(report), { recursive: true });
    const version = (JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")) as { version: string })
      .version;
    const skip = [...Object.keys(SKIPPED), ...(values["skip-tests"]?.split(",") ?? [])].filter(
      (t) => t !== "",
    );
    const args = [
      "-test.v",
      "-test.timeout=90m",
      "-test.run=TestConformance",
      "--gateway-class=strait",
      `--conformance-profiles=${values.profiles ?? profilesFor(features).join(",")}`,
      `--supported-features=${features.join(",")}`,
      `--report-output=${report}`,
      "--organization=strait-dev",
      "--project=strait",
      "--url=https://github.com/strait-dev/strait",
      `--version=v${version}`,
      "--contact=@strait-dev/maintainers",
      "--cleanup-base-resources=false",
      // GatewayStaticAddresses: one address of the pool, one that no node owns (TEST-NET-1).
      `--usable-address=${USABLE_ADDRESS}`,
      "--unusable-address=192.0.2.1",
      ...(skip.length > 0 ? [`--skip-tests=${skip.join(",")}`] : []),
      ...(values["run-test"] === undefined ? [] : [`--run-test=${values["run-test"]}`]),
    ];
    log.info({ features: features.length, args }, "running the conformance suite");
    const started = performance.now();
    const code = await new Promise<number>((done) => {
      const out = createWriteStream(join(logs, "conformance.log"));
      const child = spawn(
        bins.conformanceTest,
        [...args, ...(values.debug ? ["--debug"] : []), ...positionals],
        {
          stdio: ["ignore", "pipe", "pipe"],
          cwd: dirname(bins.conformanceTest),
          env: { ...process.env, KUBECONFIG: plane.adminKubeconfig },
        },
      );
      for (const stream of [child.stdout, child.stderr]) {
        stream.pipe(out, { end: false });
        stream.pipe(process.stdout, { end: false });
      }
      child.on("exit", (c) => out.end(() => done(c ?? 1)));
    });
    const minutes = ((performance.now() - started) / 60_000).toFixed(1);
    if (node.errors.length > 0) log.warn({ errors: node.errors }, "node stand-in errors");
    const summary = summarize(report);
    for (const line of summary.lines) console.log(line);
    log.info({ code, report, minutes, logs }, "conformance suite finished");
    return code !== 0 ? code : summary.ok ? 0 : 1;
  } finally {
    await stopAll();
  }
}

/** The profiles whose core features the GatewayClass claims. */
function profilesFor(features: readonly string[]): string[] {
  return [
    "GATEWAY-HTTP",
    ...(features.includes("GRPCRoute") ? ["GATEWAY-GRPC"] : []),
    ...(features.includes("TLSRoute") ? ["GATEWAY-TLS"] : []),
  ];
}

interface ProfileStatus {
  readonly result: string;
  readonly statistics: { readonly Passed: number; readonly Failed: number; readonly Skipped: number };
  readonly failedTests?: readonly string[];
  readonly skippedTests?: readonly string[];
}

/** One line per profile and level of the ConformanceReport; ok when every result is success. */
function summarize(file: string): { ok: boolean; lines: string[] } {
  if (!existsSync(file)) return { ok: false, lines: [`no report was written to ${file}`] };
  const report = parse(readFileSync(file, "utf8")) as {
    profiles?: { name: string; core: ProfileStatus; extended?: ProfileStatus }[];
  };
  const lines: string[] = [];
  let ok = (report.profiles ?? []).length > 0;
  for (const profile of report.profiles ?? []) {
    for (const [level, status] of [
      ["core", profile.core],
      ["extended", profile.extended],
    ] as const) {
      if (status === undefined) continue;
      const s = status.statistics;
      ok &&= status.result === "success";
      const failed = status.failedTests?.length ? ` failed: ${status.failedTests.join(", ")}` : "";
      lines.push(
        `${profile.name} ${level}: ${status.result} (${s.Passed} passed, ${s.Failed} failed, ${s.Skipped} skipped)${failed}`,
      );
    }
  }
  return { ok, lines };
}

process.exitCode = await main();
