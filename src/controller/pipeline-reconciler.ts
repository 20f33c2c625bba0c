/**
 * The reconciler that runs the pure pipeline on every batch and hands its
 * output to whoever consumes it: the status writer, the xDS cache, the
 * owned-object writer. Consumers register once; each gets every output.
 */
import type { Logger } from "pino";
import { formatExclusion } from "../model/exclusion.ts";
import type { DataPlaneRejection } from "../model/rejection.ts";
import type { ResourceView } from "../resources/view.ts";
import { controllerEncryption, controllerTrustDomain, type Settings, stringSetting } from "./config.ts";
import type { Reconciler } from "./controller.ts";
import { PipelineCache, type PipelineOutput, type PolicySettings, runPipeline } from "./pipeline.ts";
import { durationOf } from "./settings-check.ts";

/** The policy stage's settings from the controller's (`--cluster-name`, `--l7-access-log`, `--identity-gc-after`). */
export function policySettings(settings: Settings): PolicySettings {
  const clusterName = stringSetting(settings, "clusterName");
  const accessLog = stringSetting(settings, "l7AccessLog");
  const trustDomain =
    stringSetting(settings, "trustDomain") === undefined ? undefined : controllerTrustDomain(settings);
  const encryption = controllerEncryption(settings);
  return {
    ...(encryption === undefined ? {} : { encryption }),
    ...(trustDomain === undefined ? {} : { trustDomain }),
    ...(clusterName === undefined ? {} : { clusterName }),
    ...(accessLog === undefined ? {} : { accessLog }),
    identityGcAfterMs: durationOf(settings, "identityGcAfter"),
  };
}

export type PipelineConsumer = (output: PipelineOutput) => Promise<void> | void;

export class PipelineReconciler implements Reconciler {
  readonly name = "pipeline";
  readonly #addressPool: readonly string[];
  readonly #logger: Logger;
  readonly #consumers: PipelineConsumer[] = [];
  #latest: PipelineOutput | undefined;
  #rejections: readonly DataPlaneRejection[] = [];
  readonly #cache = new PipelineCache();
  readonly #policy: PolicySettings;
  /** Exclusions already logged, so a steady bad object is logged once, not on every pass. */
  #logged = new Set<string>();

  constructor(addressPool: readonly string[], logger: Logger, policy: PolicySettings = {}) {
    this.#addressPool = addressPool;
    this.#logger = logger;
    this.#policy = policy;
  }

  /** The output of the last reconcile, if any. */
  get latest(): PipelineOutput | undefined {
    return this.#latest;
  }

  /** What the data plane refuses now; the next reconcile shows it in status. */
  setRejections(rejections: readonly DataPlaneRejection[]): void {
    this.#rejections = rejections;
  }

  /**
   * Addresses Gateways were given: the last pass's, and for a Gateway this
   * process has not placed yet (after a restart, a new leader) the address
   * its status reports, so it keeps it. Read here, at the edge: the pipeline
   * itself never reads status.
   */
  #addresses(view: ResourceView): ReadonlyMap<string, string> {
    const known = new Map(this.#latest?.addresses ?? []);
    for (const gw of view.list("Gateway")) {
      const key = `${gw.metadata.namespace}/${gw.metadata.name}`;
      if (known.has(key)) continue;
      const reported = ((gw.status as { addresses?: { value?: string }[] } | undefined)?.addresses ?? [])[0]
        ?.value;
      if (reported !== undefined) known.set(key, reported);
    }
    return known;
  }

  onOutput(consumer: PipelineConsumer): void {
    this.#consumers.push(consumer);
  }

  async reconcile(view: ResourceView): Promise<void> {
    const output = runPipeline(view, {
      now: new Date(),
      addressPool: this.#addressPool,
      addresses: this.#addresses(view),
      cache: this.#cache,
      rejections: this.#rejections,
      policy: this.#policy,
    });
    for (const bad of output.policy.invalid) {
      this.#logger.warn(
        { policy: bad.ref, problems: bad.problems },
        "invalid network policy: not enforced (status Valid=False); every other policy still is",
      );
    }
    const excluded = new Set(output.excluded.map(formatExclusion));
    for (const line of excluded) {
      if (!this.#logged.has(line))
        this.#logger.warn(
          { excluded: line },
          "left out of the Envoy configuration; everything else is served",
        );
    }
    this.#logged = excluded;
    for (const bad of output.ingressProblems) {
      this.#logger.warn(
        { ingress: bad.ref, problems: bad.problems },
        "Ingress partly not served: these paths or TLS entries are left out; the rest is served",
      );
    }
    this.#latest = output;
    this.#logger.debug(
      {
        statuses: output.statuses.length,
        listeners: output.model.ports.length,
        clusters: output.model.backends.length,
      },
      "pipeline ran",
    );
    for (const consumer of this.#consumers) await consumer(output);
  }
}
