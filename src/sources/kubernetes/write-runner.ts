/**
 * The run loop both cluster writers share (statuses, owned objects): runs are
 * serialized, and calls made while one runs share the next run, which plans
 * from the state as it is when it starts; each run's writes go out a few at a
 * time; failed writes are retried after an exponential back-off (reset by a
 * run without failures), and with every new run anyway. Never fatal.
 */
import type { Logger } from "pino";
import { Backoff, type BackoffOptions } from "./backoff.ts";

export type WriteOutcome = "written" | "skipped" | "failed";
export type WriteTask = () => Promise<WriteOutcome>;

export interface WriteRunnerOptions {
  readonly logger: Logger;
  /** What is written, for the logs: "statuses", "owned objects". */
  readonly what: string;
  /** Requests in flight at once. */
  readonly concurrency: number;
  /** Back-off of retries after failed writes (default 1 s, up to 30 s). */
  readonly retry?: BackoffOptions;
}

export class WriteRunner {
  readonly #plan: () => WriteTask[];
  readonly #options: WriteRunnerOptions;
  readonly #backoff: Backoff;
  #running: Promise<number> = Promise.resolve(0);
  #queued: Promise<number> | undefined;
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  /** `plan` returns the writes of one run (none when this replica may not write). */
  constructor(plan: () => WriteTask[], options: WriteRunnerOptions) {
    this.#plan = plan;
    this.#options = options;
    this.#backoff = new Backoff(options.retry ?? { initialMs: 1_000, maxMs: 30_000 });
  }

  /** Runs (or joins the next run); resolves with the number of writes made. */
  flush(): Promise<number> {
    if (this.#queued !== undefined) return this.#queued;
    const next = this.#running.then(() => {
      this.#queued = undefined;
      return this.#stopped ? 0 : this.#run(this.#plan());
    });
    this.#queued = next;
    this.#running = next.catch(() => 0);
    return next;
  }

  /** Whether stop() was called: a write in progress checks it before its request. */
  get stopped(): boolean {
    return this.#stopped;
  }

  stop(): void {
    this.#stopped = true;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
  }

  async #run(tasks: WriteTask[]): Promise<number> {
    let written = 0;
    let failed = 0;
    const worker = async () => {
      for (let task = tasks.shift(); task !== undefined; task = tasks.shift()) {
        const outcome = await task();
        if (outcome === "written") written++;
        else if (outcome === "failed") failed++;
      }
    };
    await Promise.all(Array.from({ length: this.#options.concurrency }, worker));
    if (written > 0) this.#options.logger.debug({ written, failed }, `${this.#options.what} written`);
    if (failed > 0) this.#scheduleRetry(failed);
    else this.#backoff.reset();
    return written;
  }

  #scheduleRetry(failed: number): void {
    if (this.#stopped || this.#retry !== undefined) return;
    const delay = this.#backoff.next();
    const { logger, what } = this.#options;
    logger.debug({ failed, retryInMs: delay }, `${what} writes will be retried`);
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.flush().catch((error: unknown) => logger.error({ err: error }, `${what} retry failed`));
    }, delay);
    this.#retry.unref();
  }
}
