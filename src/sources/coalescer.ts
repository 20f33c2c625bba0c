/**
 * Coalesces store changes into batches, so a burst of updates (an informer's
 * initial list, a `kubectl apply` of a folder, a file rewritten) causes a
 * handful of reconciles instead of one per object.
 *
 * A batch is flushed once no change arrived for `quietMs`, but never later
 * than `maxDelayMs` after its first change, so a steady trickle of updates
 * cannot starve the reconciler. Flushes never overlap: changes that arrive
 * while the handler runs go into the next batch.
 */
import { formatObjectKey, type ObjectKey } from "../resources/objects.ts";
import type { StoreChange } from "./store.ts";

export interface ChangeBatch {
  /** The last change of each object touched since the previous batch. */
  readonly changes: readonly StoreChange[];
}

export interface CoalescerOptions {
  readonly quietMs?: number;
  readonly maxDelayMs?: number;
  /** Called when the handler throws; the batch is not retried (the next change reconciles again). */
  readonly onError?: (error: unknown) => void;
}

export class ChangeCoalescer {
  readonly #handler: (batch: ChangeBatch) => Promise<void> | void;
  readonly #quietMs: number;
  readonly #maxDelayMs: number;
  readonly #onError: (error: unknown) => void;
  #pending = new Map<string, StoreChange>();
  #firstPendingAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #closed = false;

  constructor(handler: (batch: ChangeBatch) => Promise<void> | void, options: CoalescerOptions = {}) {
    this.#handler = handler;
    this.#quietMs = options.quietMs ?? 25;
    this.#maxDelayMs = options.maxDelayMs ?? 250;
    this.#onError =
      options.onError ??
      ((error) =>
        queueMicrotask(() => {
          throw error;
        }));
  }

  /** Records a change; the handler sees it in the next batch. */
  add(change: StoreChange): void {
    if (this.#closed) return;
    if (this.#pending.size === 0) this.#firstPendingAt = Date.now();
    this.#pending.set(formatObjectKey(change.key), change);
    this.#schedule();
  }

  /** Asks for a batch even without changes (e.g. the first reconcile after the initial sync). */
  touch(key: ObjectKey): void {
    this.add({ type: "upsert", key });
  }

  /** Resolves once everything recorded so far has been handled. */
  async drain(): Promise<void> {
    while (this.#pending.size > 0 || this.#running !== undefined) {
      if (this.#running !== undefined) await this.#running;
      else await this.#flush();
    }
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#running !== undefined) return; // flushed when the running handler finishes
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const sinceFirst = Date.now() - this.#firstPendingAt;
    const delay = Math.max(0, Math.min(this.#quietMs, this.#maxDelayMs - sinceFirst));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#flush();
    }, delay);
  }

  async #flush(): Promise<void> {
    if (this.#pending.size === 0 || this.#running !== undefined) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch: ChangeBatch = { changes: [...this.#pending.values()] };
    this.#pending = new Map();
    // The handler starts on a later tick, so `#running` is set before it can finish.
    const run = Promise.resolve()
      .then(() => this.#handler(batch))
      .catch((error: unknown) => this.#onError(error))
      .finally(() => {
        this.#running = undefined;
      });
    this.#running = run;
    try {
      await run;
    } finally {
      if (this.#pending.size > 0 && !this.#closed) {
        this.#firstPendingAt = Date.now();
        this.#schedule();
      }
    }
  }
}
