/**
 * Composition of the controller process (`strait run`): source → store →
 * coalesced reconciles → outputs, plus the operations server. Used by the CLI
 * and by end-to-end tests, which start it in-process.
 */
import { resolve } from "node:path";
import type { Logger } from "pino";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { DEFAULT_IDENTITY_GC_MS, nextIdentityExpiry } from "../policy/index.ts";
import { FileSource } from "../sources/file-source.ts";
import { crdCheckFor } from "../sources/manifest-parse-worker.ts";
import { LocalStatusWriter } from "../sources/status/local-status-writer.ts";
import { ResourceStore } from "../sources/store.ts";
import { startAuthServing } from "./auth-serving.ts";
import { type ClusterMode, startClusterMode } from "./cluster-mode.ts";
import { listSetting, type Settings, stringSetting } from "./config.ts";
import { Controller, type Reconciler } from "./controller.ts";
import {
  MANAGED_ENVOY_NODE_ID,
  managedEnvoyConfig,
  managedEnvoyNotReady,
  startManagedEnvoy,
} from "./managed-envoy.ts";
import { createControllerMetrics } from "./metrics.ts";
import { createOpsServer, listenOpsServer } from "./ops-server.ts";
import { PipelineReconciler, policySettings } from "./pipeline-reconciler.ts";
import { ReadinessChecks } from "./readiness.ts";
import { checkRunSettings } from "./settings-check.ts";
import { type BuiltinXdsTls, startBuiltinXdsTls } from "./xds-builtin-tls.ts";
import { startXdsServing, xdsListenConfig } from "./xds-serving.ts";

export interface RunningController {
  readonly store: ResourceStore;
  readonly controller: Controller;
  readonly pipeline: PipelineReconciler;
  /** Bound address of the operations server. */
  readonly httpAddress: string;
  /** Bound address of the xDS server. */
  readonly xdsAddress: string;
  /** URL of the built-in CA's SVID issuer, when it runs (`--builtin-ca-dir`). */
  readonly issuerUrl: string | undefined;
  /** Admin address of the managed Envoy, when strait runs one (`--envoy managed`). */
  readonly envoyAdminAddress: string | undefined;
  stop(): Promise<void>;
}

/**
 * Garbage collection of unused identities happens in a pass; when nothing
 * changes, nothing would run one. So after each pass a reconcile is scheduled
 * for when the first unused identity's grace period ends.
 */
function scheduleIdentityGc(pipeline: PipelineReconciler, controller: Controller, gcAfterMs: number) {
  let timer: NodeJS.Timeout | undefined;
  pipeline.onOutput((output) => {
    clearTimeout(timer);
    timer = undefined;
    const at = nextIdentityExpiry(output.policy.records, gcAfterMs);
    if (at === undefined) return;
    timer = setTimeout(() => controller.reconcileSoon(), Math.max(0, at - Date.now()) + 100);
    timer.unref();
  });
  return () => clearTimeout(timer);
}

export async function startController(settings: Settings, logger: Logger): Promise<RunningController> {
  checkRunSettings(settings);
  const store = new ResourceStore();
  const metrics = createControllerMetrics(store);
  const crds = listSetting(settings, "crds");
  // Compiled here once, so a bad CRD file is an error at start; the parse worker compiles its own.
  if (crds.length > 0) crdCheckFor(crds);
  const manifests = stringSetting(settings, "manifests");
  const policy = policySettings(settings);
  const pipeline = new PipelineReconciler(
    listSetting(settings, "addressPool"),
    logger.child({ component: "pipeline" }),
    policy,
  );
  pipeline.onOutput((output) => {
    metrics.excludedParts.reset();
    for (const e of output.excluded) metrics.excludedParts.inc({ part: e.part });
  });
  const reconcilers: Reconciler[] = [pipeline];
  const controller = new Controller({
    store,
    logger,
    metrics,
    reconcilers,
    sources: [manifests === undefined ? "kubernetes" : "files"],
  });

  // Named checks behind /readyz (readiness.ts); each part adds its own as it starts.
  const readiness = new ReadinessChecks();
  readiness.add({ name: "sources-synced", check: () => controller.notSyncedReason() });
  readiness.add({ name: "reconciled", check: () => controller.notReconciledReason() });
  const app = createOpsServer({
    address: stringSetting(settings, "httpAddress") ?? "127.0.0.1:9090",
    logger,
    registry: metrics.registry,
    readiness,
  });

  // xDS and Envoy settings are checked before anything starts, so a bad one fails fast.
  const xdsConfig = xdsListenConfig(settings);
  const envoyConfig = managedEnvoyConfig(settings);
  if (envoyConfig !== undefined && (xdsConfig.tls !== undefined || xdsConfig.builtinCa !== undefined)) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      "--envoy managed runs a local Envoy over a loopback plaintext xDS connection; it cannot be combined with --xds-tls-* or --xds-tls-builtin-ca (use --envoy none and bootstrap your Envoys with client certificates)",
    );
  }
  const stoppers: (() => Promise<void> | void)[] = [];
  controller.start();
  stoppers.push(() => controller.stop());
  stoppers.push(scheduleIdentityGc(pipeline, controller, policy.identityGcAfterMs ?? DEFAULT_IDENTITY_GC_MS));

  let cluster: ClusterMode | undefined;
  /** The file source's first load, run once everything serves (so /healthz and xDS answer during it). */
  let firstLoad: (() => Promise<void>) | undefined;
  if (manifests !== undefined) {
    const statuses = new LocalStatusWriter(store, stringSetting(settings, "statusFile"));
    pipeline.onOutput(async (output) => {
      const written = await statuses.write(output.statuses);
      if (written > 0) logger.debug({ written }, "statuses written");
    });
    app.get("/api/v1/statuses", async (request) => {
      const q = request.query as { kind?: string; namespace?: string; name?: string };
      return statuses.entries({
        ...(q.kind === undefined ? {} : { kind: q.kind }),
        ...(q.namespace === undefined ? {} : { namespace: q.namespace }),
        ...(q.name === undefined ? {} : { name: q.name }),
      });
    });
    const dir = resolve(manifests);
    const files = new FileSource(dir, store, {
      ...(crds.length > 0 ? { crds } : {}),
      logger: logger.child({ component: "file-source" }),
      onScan: (scan) =>
        metrics.invalidObjects.set(scan.diagnostics.filter((d) => d.severity === "error").length),
    });
    stoppers.push(() => files.stop());
    firstLoad = async () => {
      await files.start();
      controller.markSynced("files");
    };
  } else {
    cluster = startClusterMode({ settings, logger, store, controller, pipeline, metrics });
    const running = cluster;
    stoppers.push(() => running.stop());
  }

  /** Stops what already runs (watches, timers, the xDS port), or the process would linger after an error. */
  const unwind = async (error: unknown): Promise<never> => {
    for (const stop of stoppers.reverse()) await stop();
    throw error;
  };
  let auth: Awaited<ReturnType<typeof startAuthServing>>;
  try {
    const elector = cluster?.elector;
    auth = await startAuthServing({
      settings,
      logger,
      registry: metrics.registry,
      pipeline,
      isLeader: () => elector?.isLeader ?? true,
      ...(elector === undefined
        ? {}
        : { onLeadership: (l: (leading: boolean) => void) => elector.onChange(l) }),
    });
  } catch (error) {
    return unwind(error);
  }
  stoppers.push(() => auth.stop());

  let xdsTls: BuiltinXdsTls | undefined;
  if (xdsConfig.builtinCa !== undefined) {
    const ca = auth.ca;
    try {
      // xdsListenConfig checked that --builtin-ca-dir is given, so the CA runs; never fall back to plaintext.
      if (ca === undefined) throw new StraitError(ERROR_CODES.INTERNAL, "--xds-tls-builtin-ca without a CA");
      xdsTls = await startBuiltinXdsTls(ca, xdsConfig.builtinCa, logger, metrics.registry);
    } catch (error) {
      return unwind(error);
    }
    const running = xdsTls;
    stoppers.push(() => running.stop());
  }

  let xds: Awaited<ReturnType<typeof startXdsServing>>;
  try {
    xds = await startXdsServing({
      ...(xdsTls === undefined ? {} : { tlsSource: xdsTls.source, authorizeNode: xdsTls.authorizeNode }),
      config: xdsConfig,
      logger,
      registry: metrics.registry,
      store,
      pipeline,
      app,
      onRejectionsChanged: () => controller.reconcileSoon(),
    });
  } catch (error) {
    return unwind(error); // e.g. the port is taken: leave nothing running
  }
  stoppers.push(() => xds.stop());
  for (const check of xds.readinessChecks) readiness.add(check);

  let managed: Awaited<ReturnType<typeof startManagedEnvoy>> | undefined;
  if (envoyConfig !== undefined) {
    try {
      managed = await startManagedEnvoy(envoyConfig, xds.address, logger);
    } catch (error) {
      return unwind(error);
    }
    stoppers.push(() => managed?.stop());
    const server = xds.server;
    readiness.add({
      name: "managed-envoy",
      check: () => managedEnvoyNotReady(server.clients(), MANAGED_ENVOY_NODE_ID),
    });
    const envoy = managed.envoy;
    app.get("/api/v1/envoy", async () => ({
      managed: true,
      nodeId: envoy.nodeId,
      adminAddress: envoy.adminAddress ?? null,
      pid: envoy.pid ?? null,
      restarts: envoy.restarts,
    }));
  } else {
    app.get("/api/v1/envoy", async () => ({ managed: false }));
  }

  // Like `cilium identity list`: the identities of the last pass and the pods that have them.
  app.get("/api/v1/identities", async () => {
    const policy = pipeline.latest?.policy;
    return {
      identities: policy?.identities ?? [],
      endpoints: (policy?.endpoints ?? []).map((e) => ({
        pod: e.pod,
        node: e.node ?? null,
        identity: e.identity,
      })),
    };
  });

  let ops: Awaited<ReturnType<typeof listenOpsServer>>;
  try {
    ops = await listenOpsServer(app, stringSetting(settings, "httpAddress") ?? "127.0.0.1:9090");
  } catch (error) {
    return unwind(error);
  }
  logger.info({ address: ops.address }, "operations server listening (/healthz, /readyz, /metrics)");
  stoppers.push(() => ops.close());
  // Large files parse in the worker meanwhile; /readyz says `sources-synced` failed until it is done.
  try {
    if (firstLoad !== undefined) await firstLoad();
  } catch (error) {
    return unwind(error);
  }

  return {
    store,
    controller,
    pipeline,
    httpAddress: ops.address,
    xdsAddress: xds.address,
    envoyAdminAddress: managed?.envoy.adminAddress,
    issuerUrl: auth.issuerUrl,
    async stop() {
      for (const stop of stoppers.reverse()) await stop();
    },
  };
}
