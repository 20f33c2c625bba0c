/**
 * The one renewal machinery of every certificate strait fetches or makes for
 * itself: a workload identity's X.509-SVID (renewing-provider.ts, one
 * `Renewal` per identity) and the built-in CA's xDS certificates
 * (builtin-ca/xds-certificates.ts).
 *
 * - Renewed at half the lifetime left when it arrived (SPIRE's rule), at
 *   least a second apart.
 * - A failed issue is retried with a doubling back-off (min, 2·min, 4·min, …,
 *   at most max); the held certificate is kept meanwhile.
 * - Fail closed: an expired certificate is never offered (`current()`), and a
 *   failed retry after its expiry drops it and says so (`expired`).
 * - `stop()` cancels the timer; what an issue still in flight brings after
 *   that is discarded.
 */
import { messageOf } from "../errors.ts";

/** What is renewed: anything with an end of validity. */
export interface Expiring {
  readonly notAfter: Date;
}

export interface RenewalLogger {
  warn(o: object, m: string): void;
  info(o: object, m: string): void;
}

/** The settings a renewing owner passes on (the providers', the xDS certificates'). */
export interface RenewalTiming {
  readonly now?: () => Date;
  /** The first retry's delay; each further failure doubles it. */
  readonly retryMinMs?: number;
  /** The longest delay between retries. */
  readonly retryMaxMs?: number;
  readonly logger?: RenewalLogger;
}

/** What the owner is told (each hook runs after the next try is scheduled). */
export interface RenewalEvents<T extends Expiring> {
  /** A new certificate is held. */
  issued?(value: T): void;
  /** An issue failed; the next try is in `retryInMs`. */
  failed?(error: unknown, retryInMs: number): void;
  /** The held certificate expired while issuing failed, and was dropped. */
  expired?(): void;
}

export interface RenewalOptions<T extends Expiring> extends RenewalEvents<T> {
  /** The clock, the back-off and the logger: the owner's settings, as given to it. */
  readonly timing: RenewalTiming;
  /** Makes or fetches a new certificate (a fresh key each time); throws when the source fails. */
  readonly issue: () => Promise<T>;
  /** Its kind in log lines ("SVID issued", "certificate not issued"). */
  readonly noun: string;
  /** The fields that name this one in log lines. */
  readonly logFields: object;
}

export const DEFAULT_RETRY_MIN_MS = 500;
export const DEFAULT_RETRY_MAX_MS = 30_000;
/** Renewals at least this far apart, however short the lifetime. */
export const MIN_RENEW_MS = 1_000;
/** The longest wait setTimeout holds (2^31-1 ms, about 24.8 days); a longer one would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** The delay before the retry that follows the `failures`-th failure in a row (1, 2, …). */
export function retryDelayMs(failures: number, minMs: number, maxMs: number): number {
  return Math.min(maxMs, minMs * 2 ** Math.min(failures - 1, 10));
}

/**
 * When to renew a certificate valid until `notAfter`: at half the lifetime
 * left when it arrived (not of notAfter - notBefore: issuers back-date
 * notBefore for clock skew), not sooner than MIN_RENEW_MS.
 */
export function renewInMs(notAfter: Date, now: Date): number {
  return Math.max(MIN_RENEW_MS, (notAfter.getTime() - now.getTime()) / 2);
}

/** One certificate kept current. */
export class Renewal<T extends Expiring> {
  readonly #o: RenewalOptions<T>;
  readonly #now: () => Date;
  #value: T | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;

  constructor(options: RenewalOptions<T>) {
    this.#o = options;
    this.#now = options.timing.now ?? (() => new Date());
  }

  /** Issues the first certificate; resolves whether that worked (retries go on in the background). */
  start(): Promise<boolean> {
    return this.renewNow();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** The held certificate while it is valid; undefined before the first and after expiry. */
  current(): T | undefined {
    const value = this.#value;
    return value !== undefined && value.notAfter.getTime() > this.#now().getTime() ? value : undefined;
  }

  /** Issues a new certificate now (the timer, and tests); resolves whether one is held from it. */
  async renewNow(): Promise<boolean> {
    clearTimeout(this.#timer);
    let value: T;
    try {
      value = await this.#o.issue();
    } catch (error) {
      this.#failed(error);
      return false;
    }
    if (this.#stopped) return false;
    this.#failures = 0;
    this.#value = value;
    const renewIn = renewInMs(value.notAfter, this.#now());
    this.#schedule(renewIn);
    this.#o.timing.logger?.info(
      { ...this.#o.logFields, notAfter: value.notAfter.toISOString(), renewInMs: Math.round(renewIn) },
      `${this.#o.noun} issued`,
    );
    this.#o.issued?.(value);
    return true;
  }

  #failed(error: unknown): void {
    this.#failures++;
    const delay = retryDelayMs(
      this.#failures,
      this.#o.timing.retryMinMs ?? DEFAULT_RETRY_MIN_MS,
      this.#o.timing.retryMaxMs ?? DEFAULT_RETRY_MAX_MS,
    );
    this.#schedule(delay);
    this.#o.timing.logger?.warn(
      { ...this.#o.logFields, error: messageOf(error), retryInMs: delay },
      `${this.#o.noun} not issued`,
    );
    this.#o.failed?.(error, delay);
    // An expired certificate is dropped even while the source is away.
    if (this.#value !== undefined && this.current() === undefined) {
      this.#value = undefined;
      this.#o.expired?.();
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    // A longer wait than setTimeout holds renews early, after MAX_TIMER_MS: early is safe, never is not.
    this.#timer = setTimeout(() => void this.renewNow(), Math.min(delayMs, MAX_TIMER_MS));
    // The owner's servers keep the process alive, not a renewal due in hours.
    this.#timer.unref();
  }
}
