/**
 * Exponential back-off with jitter, for retries against the API server: the
 * delay doubles after each failure up to a cap, and a success resets it.
 * Jitter spreads the retries of many replicas (and many kinds) so they do not
 * hit a recovering API server in lockstep.
 */

export interface BackoffOptions {
  readonly initialMs: number;
  readonly maxMs: number;
  /** Fraction of the delay added at random (default 0.2). */
  readonly jitter?: number;
}

export class Backoff {
  readonly #options: BackoffOptions;
  readonly #random: () => number;
  #failures = 0;

  constructor(options: BackoffOptions, random: () => number = Math.random) {
    this.#options = options;
    this.#random = random;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = Math.min(this.#options.maxMs, this.#options.initialMs * 2 ** this.#failures);
    this.#failures = Math.min(this.#failures + 1, 30);
    return Math.round(base * (1 + (this.#options.jitter ?? 0.2) * this.#random()));
  }

  reset(): void {
    this.#failures = 0;
  }
}

/** A sleep that `wake()` ends at once, so a loop being stopped never waits out its delay. */
export class Sleeper {
  #wake: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.#wake = done;
    });
  }

  wake(): void {
    this.#wake?.();
  }
}
