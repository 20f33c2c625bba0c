/**
 * The renewal machinery the SVIDs and the xDS certificates share, on Node's
 * timers faked (vitest) so that each delay is checked to the millisecond:
 * renewal at half the lifetime left (at least a second apart), retries after
 * min, 2·min, 4·min, … up to max, the held certificate kept until it expires
 * and then dropped, and nothing left running after stop().
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { MAX_TIMER_MS, Renewal, type RenewalOptions, renewInMs, retryDelayMs } from "./renewal.ts";

interface Cert {
  readonly n: number;
  readonly notAfter: Date;
}

/** A source whose certificates live `lifetimeMs`, failing while `fail` is set; it records when it was asked. */
function source(lifetimeMs: number) {
  const s = {
    fail: false,
    lifetimeMs,
    asked: [] as number[],
    made: 0,
    issue: async (): Promise<Cert> => {
      s.asked.push(Date.now());
      if (s.fail) throw new Error("source away");
      s.made++;
      return { n: s.made, notAfter: new Date(Date.now() + s.lifetimeMs) };
    },
  };
  return s;
}

function renewal(
  issue: () => Promise<Cert>,
  more: Partial<Omit<RenewalOptions<Cert>, "issue">> = {},
): Renewal<Cert> {
  return new Renewal<Cert>({
    timing: { now: () => new Date(), retryMinMs: 100, retryMaxMs: 1000 },
    noun: "test certificate",
    logFields: {},
    issue,
    ...more,
  });
}

const gaps = (times: readonly number[]) => times.slice(1).map((t, i) => t - (times[i] ?? 0));

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: 1_800_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("retryDelayMs and renewInMs", () => {
  it("doubles from min with each failure, up to max, and stops doubling after 2^10", () => {
    expect([1, 2, 3, 4, 5, 6].map((f) => retryDelayMs(f, 100, 1000))).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    expect(retryDelayMs(11, 1, 1e9)).toBe(1024);
    expect(retryDelayMs(50, 1, 1e9)).toBe(1024);
  });

  it("renews at half the lifetime left, and not sooner than a second", () => {
    const now = new Date(0);
    expect(renewInMs(new Date(10_000), now)).toBe(5_000);
    expect(renewInMs(new Date(1_500), now)).toBe(1_000);
    expect(renewInMs(new Date(-5), now)).toBe(1_000); // already expired: still a second apart
  });
});

describe("Renewal", () => {
  it("renews at half the lifetime left, and tells of each new certificate", async () => {
    const src = source(10_000);
    const issued: number[] = [];
    const r = renewal(src.issue, { issued: (c) => issued.push(c.n) });
    const t0 = Date.now();
    expect(await r.start()).toBe(true);
    expect(r.current()?.n).toBe(1);
    await vi.advanceTimersByTimeAsync(4_999);
    expect(issued).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    expect(issued).toEqual([1, 2]);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(issued).toEqual([1, 2, 3]);
    expect(src.asked.map((t) => t - t0)).toEqual([0, 5_000, 10_000]);
    expect(r.current()?.n).toBe(3);
    r.stop();
  });

  it("renews a short-lived certificate a second apart, not at half its lifetime", async () => {
    const src = source(1_500);
    const r = renewal(src.issue);
    await r.start();
    await vi.advanceTimersByTimeAsync(999);
    expect(src.made).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(src.made).toBe(2);
    r.stop();
  });

  it("retries after min, 2·min, 4·min, … up to max, and from min again after a success", async () => {
    const src = source(60_000);
    src.fail = true;
    const told: number[] = [];
    const r = renewal(src.issue, { failed: (_e, retryInMs) => told.push(retryInMs) });
    expect(await r.start()).toBe(false);
    await vi.advanceTimersByTimeAsync(100 + 200 + 400 + 800 + 1000 + 1000);
    expect(gaps(src.asked)).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(told).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
    src.fail = false;
    await vi.advanceTimersByTimeAsync(1000);
    expect(r.current()?.n).toBe(1);
    // The next renewal (at 30 s) fails: the back-off starts again from min.
    src.fail = true;
    src.asked.length = 0;
    await vi.advanceTimersByTimeAsync(30_000 + 100 + 200);
    expect(gaps(src.asked)).toEqual([100, 200]);
    expect(told.slice(-3)).toEqual([100, 200, 400]);
    r.stop();
  });

  it("keeps the certificate while issuing fails, offers nothing once it expired, and drops it once", async () => {
    const src = source(4_000);
    let expired = 0;
    const held = renewal(src.issue, {
      timing: { retryMinMs: 500, retryMaxMs: 500 },
      expired: () => expired++,
    });
    await held.start();
    src.fail = true;
    // Renewal at 2 s fails; retries at 2.5, 3, 3.5 and 4 s.
    await vi.advanceTimersByTimeAsync(3_999);
    expect(held.current()?.n).toBe(1);
    expect(expired).toBe(0);
    await vi.advanceTimersByTimeAsync(1);
    expect(held.current()).toBeUndefined();
    expect(expired).toBe(1); // dropped at the failed retry at its notAfter
    await vi.advanceTimersByTimeAsync(5_000);
    expect(expired).toBe(1);
    // Issuing again gives a certificate again.
    src.fail = false;
    await vi.advanceTimersByTimeAsync(500);
    expect(held.current()?.n).toBe(2);
    held.stop();
  });

  it("cancels its timer at stop(): no issue after it", async () => {
    const src = source(10_000);
    const r = renewal(src.issue);
    await r.start();
    expect(vi.getTimerCount()).toBe(1);
    r.stop();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(src.asked).toHaveLength(1);
  });

  it("discards what an issue in flight brings after stop(), and schedules no retry for its failure", async () => {
    let settle: { resolve: (c: Cert) => void; reject: (e: Error) => void } | undefined;
    const issued: number[] = [];
    const r = renewal(
      () =>
        new Promise<Cert>((resolve, reject) => {
          settle = { resolve, reject };
        }),
      { issued: (c) => issued.push(c.n) },
    );
    const first = r.start();
    r.stop();
    settle?.resolve({ n: 1, notAfter: new Date(Date.now() + 10_000) });
    expect(await first).toBe(false);
    expect(r.current()).toBeUndefined();
    expect(issued).toEqual([]);
    expect(vi.getTimerCount()).toBe(0);

    const failing = renewal(
      () =>
        new Promise<Cert>((resolve, reject) => {
          settle = { resolve, reject };
        }),
    );
    const attempt = failing.start();
    failing.stop();
    settle?.reject(new Error("source away"));
    expect(await attempt).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("waits at most what setTimeout holds: a 100-day certificate renews after 2^31-1 ms, not at once", async () => {
    const src = source(100 * 24 * 3600_000);
    const r = renewal(src.issue);
    await r.start();
    await vi.advanceTimersByTimeAsync(10); // a longer delay given to setTimeout would have fired by now
    expect(src.made).toBe(1);
    await vi.advanceTimersByTimeAsync(MAX_TIMER_MS - 11);
    expect(src.made).toBe(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(src.made).toBe(2);
    r.stop();
  });
});
