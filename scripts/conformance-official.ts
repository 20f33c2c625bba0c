/**
 * `make conformance-official`: the official Gateway API conformance suite
 * (v1.6.1, its own Go test binary) against strait in cluster mode on a real
 * control plane, with a real Envoy serving the Gateways' addresses.
 *
 * 1. builds or finds the Go fixtures (scripts/build-fixtures.sh);
 * 2. starts etcd, kube-apiserver and kube-controller-manager on loopback, and
 *    the node stand-in, which runs the suite's echo pods (upstream echo-basic)
 *    in network namespaces (root);
 * 3. applies the v1.6.1 standard CRDs and the GatewayClass `strait`;
 * 4. starts `strait run --kubeconfig` with a loopback address pool, and an
 *    Envoy (src/envoy ManagedEnvoy) bootstrapped to strait's xDS server as the
 *    node's proxy, so each Gateway answers on its address;
 * 5. runs the conformance binary with --gateway-class=strait, the profiles,
 *    the GatewayClass status' supportedFeatures and --report-output.
 *
 *   node scripts/conformance-official.ts [--profiles GATEWAY-HTTP] [--report FILE] [--run-test NAME] [--skip-tests A,B]
 */
import { spawn } from "node:child_process";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { ManagedEnvoy } from "../src/envoy/index.ts";
import { Applier, readManifests } from "../test/support/control-plane/apply.ts";
import { ControlPlane, componentDir, freePort } from "../test/support/control-plane/control-plane.ts";
import { fixtureBinaries } from "../test/support/control-plane/fixtures.ts";
import { NODE_SKIP_REASON, NodeStandIn } from "../test/support/control-plane/node-stand-in.ts";
import { gatewayApiDir } from "../test/support/gateway-api-data.ts";
import { REPO, StraitProcess } from "../test/support/strait-process.ts";

/** Tests this machine cannot run, each with the reason (passed to --skip-tests). */
const SKIPPED: Readonly<Record<string, string>> = {};

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      profiles: { type: "string", default: "GATEWAY-HTTP" },
      report: { type: "string", default: join(REPO, "conformance/reports/official-gateway-http.yaml") },
      "run-test": { type: "string" },
      "skip-tests": { type: "string" },
    },
  });
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
    stops.push(() => plane.stop());
    const node = await NodeStandIn.start(plane, {
      dir: componentDir(plane, "node"),
      echoBasic: bins.echoBasic,
    });
    stops.push(() => node.stop());

    const applier = new Applier(plane.admin);
    const crdDir = join(gatewayApiDir(), "config/crd/standard");
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
      "127.0.2.0/24",
    ]);
    stops.push(() => strait.stop());
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
      logger: log.child({ component: "envoy" }),
      logLevel: "warn",
    });
    await envoy.start();
    stops.push(() => envoy.stop());

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
      `--conformance-profiles=${values.profiles}`,
      `--supported-features=${features.join(",")}`,
      `--report-output=${report}`,
      "--organization=strait-dev",
      "--project=strait",
      "--url=https://github.com/strait-dev/strait",
      `--version=v${version}`,
      "--contact=@strait-dev/maintainers",
      "--cleanup-base-resources=false",
      ...(skip.length > 0 ? [`--skip-tests=${skip.join(",")}`] : []),
      ...(values["run-test"] === undefined ? [] : [`--run-test=${values["run-test"]}`]),
    ];
    log.info({ features: features.length, args }, "running the conformance suite");
    const code = await new Promise<number>((done) => {
      const child = spawn(bins.conformanceTest, args, {
        stdio: "inherit",
        cwd: dirname(bins.conformanceTest),
        env: { ...process.env, KUBECONFIG: plane.adminKubeconfig },
      });
      child.on("exit", (c) => done(c ?? 1));
    });
    if (node.errors.length > 0) log.warn({ errors: node.errors }, "node stand-in errors");
    log.info({ code, report }, "conformance suite finished");
    return code;
  } finally {
    await stopAll();
  }
}

process.exitCode = await main();
