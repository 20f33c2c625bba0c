/**
 * Cluster mode of `strait run` (no `-f`): the Kubernetes source fills the
 * store, every replica reconciles, and only the replica holding the
 * leader-election Lease writes statuses, the objects strait owns (the
 * per-Gateway Services) and the security identities (CiliumIdentity objects,
 * which every replica reads back). Leadership is logged and exported as the
 * `strait_leader` gauge.
 */
import { hostname } from "node:os";
import type { Logger } from "pino";
import { Gauge } from "prom-client";
import { messageOf } from "../errors.ts";
import { EventRecorder } from "../sources/kubernetes/event-recorder.ts";
import { IdentityWriter } from "../sources/kubernetes/identity-writer.ts";
import { KubeClient, loadKubeConfig } from "../sources/kubernetes/kube-client.ts";
import { KubernetesSource } from "../sources/kubernetes/kubernetes-source.ts";
import { LeaderElector } from "../sources/kubernetes/leader-election.ts";
import { OwnedObjectWriter } from "../sources/kubernetes/owned-object-writer.ts";
import { KubernetesStatusWriter } from "../sources/status/kubernetes-status-writer.ts";
import type { ResourceStore } from "../sources/store.ts";
import { type Settings, stringSetting } from "./config.ts";
import type { Controller } from "./controller.ts";
import { invalidEndpointEvents } from "./endpoint-events.ts";
import type { ControllerMetrics } from "./metrics.ts";
import type { PipelineOutput } from "./pipeline.ts";
import type { PipelineReconciler } from "./pipeline-reconciler.ts";
import { durationOf, leaseTimings } from "./settings-check.ts";

export interface ClusterModeInput {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly store: ResourceStore;
  readonly controller: Controller;
  readonly pipeline: PipelineReconciler;
  readonly metrics: ControllerMetrics;
}

export interface ClusterMode {
  readonly elector: LeaderElector;
  readonly source: KubernetesSource;
  stop(): Promise<void>;
}

export function startClusterMode(input: ClusterModeInput): ClusterMode {
  const { settings, logger, store, controller, pipeline, metrics } = input;
  const loaded = loadKubeConfig(stringSetting(settings, "kubeconfig"));
  const client = new KubeClient(loaded.config);
  const namespace = stringSetting(settings, "namespace") ?? loaded.podNamespace ?? "strait-system";
  const identity = stringSetting(settings, "identity") ?? `${hostname()}_${process.pid}`;
  const leaseName = stringSetting(settings, "leaseName") ?? "strait-controller";
  const { leaseDurationMs, renewDeadlineMs, retryPeriodMs } = leaseTimings(settings);
  logger.info(
    { kubeconfig: loaded.source, server: client.server, lease: `${namespace}/${leaseName}`, identity },
    "cluster mode",
  );

  const elector = new LeaderElector({
    client,
    namespace,
    name: leaseName,
    identity,
    leaseDurationMs,
    renewDeadlineMs,
    retryPeriodMs,
    logger: logger.child({ component: "leader-election" }),
  });
  const writer = new KubernetesStatusWriter({
    client,
    view: store,
    isLeader: () => elector.isLeader,
    logger: logger.child({ component: "status-writer" }),
  });
  const source = new KubernetesSource({
    client,
    store,
    logger: logger.child({ component: "kubernetes-source" }),
    onSynced: () => controller.markSynced("kubernetes"),
  });
  const owned = new OwnedObjectWriter({
    client,
    store,
    isLeader: () => elector.isLeader,
    canDelete: () => source.states().Gateway === "synced",
    logger: logger.child({ component: "owned-object-writer" }),
  });
  const identities = new IdentityWriter({
    client,
    store,
    isLeader: () => elector.isLeader,
    state: () => source.states().CiliumIdentity,
    logger: logger.child({ component: "identity-writer" }),
  });
  const heartbeatMs = durationOf(settings, "eventHeartbeat");
  const events = new EventRecorder({
    client,
    controller: "strait.dev/gateway-controller",
    instance: identity,
    logger: logger.child({ component: "events" }),
    heartbeatMs,
  });
  new Gauge({
    name: "strait_owned_object_conflicts",
    help: "Objects strait should create for its Gateways (their Services) but leaves alone, because an object of that name exists that strait does not manage. Counted by the leader.",
    registers: [metrics.registry],
    collect() {
      this.set(owned.blocked.length);
    },
  });
  const leader = new Gauge({
    name: "strait_leader",
    help: "1 while this replica holds the leader-election Lease and writes statuses, else 0.",
    registers: [metrics.registry],
  });
  leader.set(0);
  const logFailure = (error: unknown) =>
    logger.error({ err: messageOf(error) }, "status writing failed unexpectedly");
  const logOwnedFailure = (error: unknown) =>
    logger.error({ err: messageOf(error) }, "owned object writing failed unexpectedly");
  const logIdentityFailure = (error: unknown) =>
    logger.error({ err: messageOf(error) }, "identity recording failed unexpectedly");
  const recordEvents = (output: PipelineOutput) =>
    events
      .record(invalidEndpointEvents(output.excluded, store))
      .catch((error: unknown) =>
        logger.error({ err: messageOf(error) }, "event recording failed unexpectedly"),
      );
  elector.onChange((leading) => {
    leader.set(leading ? 1 : 0);
    // A new leader writes every current status and owned object: the previous one may have
    // stopped mid-way, and what it applied last is known only to it.
    if (leading) {
      writer.flush().catch(logFailure);
      owned.resync().catch(logOwnedFailure);
      identities.resync().catch(logIdentityFailure);
      const latest = pipeline.latest;
      if (latest !== undefined) recordEvents(latest);
    }
  });
  // Not awaited: publishing config must never wait on API writes; the writers serialize their runs.
  pipeline.onOutput((output) => {
    writer.write(output.statuses).catch(logFailure);
    owned.write(output.ownedObjects).catch(logOwnedFailure);
    identities.write(output.identityObjects).catch(logIdentityFailure);
    // Only the leader records Events, so replicas do not each report the same problem.
    if (elector.isLeader) recordEvents(output);
  });

  // Events of problems that hold are written again (a heartbeat) even when no pass runs for long;
  // checked six times per heartbeat, so each is written at most a sixth of it late.
  const heartbeat = setInterval(
    () => {
      if (elector.isLeader)
        events
          .heartbeat()
          .catch((error: unknown) =>
            logger.error({ err: messageOf(error) }, "event heartbeat failed unexpectedly"),
          );
    },
    Math.max(1_000, heartbeatMs / 6),
  );
  heartbeat.unref();

  source.start();
  elector.start();

  return {
    elector,
    source,
    async stop() {
      clearInterval(heartbeat);
      writer.stop();
      owned.stop();
      identities.stop();
      await elector.stop();
      await source.stop();
    },
  };
}
