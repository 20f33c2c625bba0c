/**
 * The reconciler that runs the pure pipeline on every batch and hands its
 * output to whoever consumes it: the status writer, the xDS cache, the
 * owned-object writer. Consumers register once; each gets every output.
 */
import type { Logger } from "pino";
import type { DataPlaneRejection } from "../model/rejection.ts";
import type { ResourceView } from "../resources/view.ts";
import type { Reconciler } from "./controller.ts";
import { PipelineCache, type PipelineOutput, runPipeline } from "./pipeline.ts";

export type PipelineConsumer = (output: PipelineOutput) => Promise<void> | void;

export class PipelineReconciler implements Reconciler {
  readonly name = "pipeline";
  readonly #addressPool: readonly string[];
  readonly #logger: Logger;
  readonly #consumers: PipelineConsumer[] = [];
  #latest: PipelineOutput | undefined;
  #rejections: readonly DataPlaneRejection[] = [];
  readonly #cache = new PipelineCache();

  constructor(addressPool: readonly string[], logger: Logger) {
    this.#addressPool = addressPool;
    this.#logger = logger;
  }

  /** The output of the last reconcile, if any. */
  get latest(): PipelineOutput | undefined {
    return this.#latest;
  }

  /** What the data plane refuses now; the next reconcile shows it in status. */
  setRejections(rejections: readonly DataPlaneRejection[]): void {
    this.#rejections = rejections;
  }

  onOutput(consumer: PipelineConsumer): void {
    this.#consumers.push(consumer);
  }

  async reconcile(view: ResourceView): Promise<void> {
    const output = runPipeline(view, {
      now: new Date(),
      addressPool: this.#addressPool,
      cache: this.#cache,
      rejections: this.#rejections,
    });
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
