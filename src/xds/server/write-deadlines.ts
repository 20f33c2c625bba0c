/**
 * The write timeout of every stream, with one timer for the server. A
 * stream with a response in flight registers when the write starts and
 * leaves when the client has taken it; a sweep a few times per timeout
 * cuts off the streams past their deadline. A timer per write cost a
 * setTimeout and a clearTimeout for every response, about a fifth of the
 * server's CPU time for a push to 2,000 clients (bench/RESULTS.md, "xDS
 * fan-out").
 *
 * Every write has the same timeout, so deadlines come in the order writes
 * start: the sweep looks at the oldest ones only. A stream is cut off
 * between `timeoutMs` and `timeoutMs` plus one sweep interval after its
 * write started.
 */
export class WriteDeadlines {
  readonly #timeoutMs: number;
  readonly #intervalMs: number;
  /** Insertion order is deadline order (a restarted write moves to the end). */
  readonly #pending = new Map<object, { readonly deadline: number; readonly expired: () => void }>();
  #timer: NodeJS.Timeout | undefined;

  constructor(timeoutMs: number) {
    this.#timeoutMs = timeoutMs;
    this.#intervalMs = Math.max(10, Math.min(1000, Math.round(timeoutMs / 4)));
  }

  /** Number of writes in flight. */
  get size(): number {
    return this.#pending.size;
  }

  /** A write of `key` started: `expired` runs if it is still in flight after the timeout. */
  start(key: object, expired: () => void): void {
    this.#pending.delete(key);
    this.#pending.set(key, { deadline: Date.now() + this.#timeoutMs, expired });
    if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#sweep(), this.#intervalMs);
      this.#timer.unref();
    }
  }

  /** The write of `key` completed (or its stream ended). */
  done(key: object): void {
    this.#pending.delete(key);
  }

  #sweep(): void {
    const now = Date.now();
    for (const [key, pending] of this.#pending) {
      if (pending.deadline > now) break;
      this.#pending.delete(key);
      pending.expired();
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }
}
