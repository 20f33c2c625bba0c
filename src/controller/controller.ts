/**
 * The control-plane loop: store changes are coalesced into batches, and each
 * batch runs the reconcilers in order (translation and xDS publication, status
 * writing). The controller is ready once its sources have synced and the first
 * reconcile succeeded.
 */
import type { Logger } from "pino";
import type { ResourceView } from "../resources/view.ts";
import { type ChangeBatch, ChangeCoalescer, type CoalescerOptions } from "../sources/coalescer.ts";
import type { ResourceStore } from "../sources/store.ts";
import type { ControllerMetrics } from "./metrics.ts";

/** One step of a reconcile; steps run in order and see the same store state. */
export interface Reconciler {
  readonly name: string;
  reconcile(view: ResourceView, batch: ChangeBatch): Promise<void> | void;
}

export interface ControllerOptions {
  readonly store: ResourceStore;
  readonly logger: Logger;
  readonly metrics: ControllerMetrics;
  readonly reconcilers: readonly Reconciler[];
  /** Names of the sources that must report a first full sync before the controller is ready. */
  readonly sources: readonly string[];
  readonly coalescing?: CoalescerOptions;
}

export class Controller {
  readonly #options: ControllerOptions;
  readonly #coalescer: ChangeCoalescer;
  readonly #unsynced: Set<string>;
  #unsubscribe: (() => void) | undefined;
  #reconciledOnce = false;
  #lastError: string | undefined;
  #reconciles = 0;

  constructor(options: ControllerOptions) {
    this.#options = options;
    this.#unsynced = new Set(options.sources);
    this.#coalescer = new ChangeCoalescer((batch) => this.#reconcile(batch), {
      ...options.coalescing,
      onError: (error) => options.logger.error({ err: error }, "reconcile failed"),
    });
  }

  /** Starts listening to the store. Reconciles begin once every source has synced. */
  start(): void {
    this.#unsubscribe = this.#options.store.subscribe((change) => {
      // A status-only change is the controller's own write coming back: nothing to translate.
      if (this.#unsynced.size === 0 && change.statusOnly !== true) this.#coalescer.add(change);
    });
  }

  /** A source reports its first full sync; the first reconcile follows the last one. */
  markSynced(source: string): void {
    if (!this.#unsynced.delete(source)) return;
    this.#options.logger.info({ source }, "source synced");
    if (this.#unsynced.size === 0) this.#coalescer.touch({ kind: "Namespace", namespace: "", name: "" });
  }

  /** Reconciles again soon although no object changed (an input outside the store did, e.g. Envoy's NACKs). */
  reconcileSoon(): void {
    if (this.#unsynced.size === 0) this.#coalescer.touch({ kind: "Namespace", namespace: "", name: "" });
  }

  /** Why the controller is not ready, or undefined once it is. */
  notReadyReason(): string | undefined {
    return this.notSyncedReason() ?? this.notReconciledReason();
  }

  /** The sources that have not reported their first full sync (readiness check `sources-synced`). */
  notSyncedReason(): string | undefined {
    if (this.#unsynced.size > 0) return `waiting for first sync of ${[...this.#unsynced].join(", ")}`;
    return undefined;
  }

  /**
   * Until the first reconcile succeeded (readiness check `reconciled`). A later failing
   * reconcile does not count: the last good output is still served.
   */
  notReconciledReason(): string | undefined {
    if (this.#unsynced.size > 0) return "waiting for the sources";
    if (!this.#reconciledOnce) return this.#lastError ?? "first reconcile not done";
    return undefined;
  }

  get reconcileCount(): number {
    return this.#reconciles;
  }

  /** Resolves once every change seen so far has been reconciled. */
  async settle(): Promise<void> {
    await this.#coalescer.drain();
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#coalescer.drain();
    this.#coalescer.close();
  }

  async #reconcile(batch: ChangeBatch): Promise<void> {
    const { metrics, logger, store } = this.#options;
    const end = metrics.reconcileDuration.startTimer();
    const started = performance.now();
    try {
      for (const reconciler of this.#options.reconcilers) {
        await reconciler.reconcile(store, batch);
      }
      metrics.reconciles.inc({ result: "success" });
      this.#reconciledOnce = true;
      this.#lastError = undefined;
    } catch (error) {
      metrics.reconciles.inc({ result: "error" });
      this.#lastError = `last reconcile failed: ${(error as Error).message}`;
      throw error;
    } finally {
      end();
      this.#reconciles++;
      logger.debug(
        { changes: batch.changes.length, ms: Math.round(performance.now() - started) },
        "reconciled",
      );
    }
  }
}
