/**
 * RenewingProvider keeps one Renewal per identity of setIdentities(): each
 * fetched and renewed on its own, rotation events for each new SVID, for a
 * removed identity and for an SVID dropped at expiry; healthy while the
 * source answers; nothing left running after an identity goes or after
 * stop(). Node's timers are faked (vitest), as in renewal.test.ts; the
 * renewal rules themselves are tested there.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Svid } from "./identity-provider.ts";
import { RenewingProvider } from "./renewing-provider.ts";
import { DEFAULT_TRUST_DOMAIN, identitySpiffeId } from "./spiffe-id.ts";

/** SVIDs of 10 s, made up (their content is the subclasses' business); fails for identities in `failing`. */
class TestProvider extends RenewingProvider {
  readonly name = "test";
  readonly failing = new Set<number>();
  readonly asked: number[] = [];

  constructor() {
    super(DEFAULT_TRUST_DOMAIN, { retryMinMs: 100, retryMaxMs: 100 });
  }

  bundles(): undefined {
    return undefined;
  }

  protected async fetchSvid(identity: number): Promise<Svid> {
    this.asked.push(identity);
    if (this.failing.has(identity)) throw new Error(`no SVID for ${identity}`);
    const now = this.now().getTime();
    return {
      id: identitySpiffeId(this.trustDomain, identity),
      chainDer: [],
      keyPem: "",
      notBefore: new Date(now),
      notAfter: new Date(now + 10_000),
    };
  }
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "Date"], now: 1_800_000_000_000 });
});
afterEach(() => {
  vi.useRealTimers();
});

describe("RenewingProvider", () => {
  it("fetches and renews an SVID per identity, and tells of each", async () => {
    const p = new TestProvider();
    const rotated: (number | "bundle")[] = [];
    p.onRotate((w) => rotated.push(w));
    expect(p.healthy()).toBe(false);
    p.setIdentities(new Set([1001, 1002]));
    await vi.advanceTimersByTimeAsync(0);
    expect(rotated.sort()).toEqual([1001, 1002]);
    expect(p.svidFor(1001)?.notAfter.getTime()).toBe(Date.now() + 10_000);
    expect(p.svidFor(1003)).toBeUndefined();
    expect(p.healthy()).toBe(true);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(rotated.sort()).toEqual([1001, 1001, 1002, 1002]);
    expect(await p.renewNow(1001)).toBe(true);
    expect(await p.renewNow(1003)).toBe(false); // not one of its identities
    await p.stop();
  });

  it("drops a removed identity at once and stops renewing it", async () => {
    const p = new TestProvider();
    const rotated: (number | "bundle")[] = [];
    p.onRotate((w) => rotated.push(w));
    p.setIdentities(new Set([1001, 1002]));
    await vi.advanceTimersByTimeAsync(0);
    rotated.length = 0;
    p.setIdentities(new Set([1002]));
    expect(rotated).toEqual([1001]);
    expect(p.svidFor(1001)).toBeUndefined();
    expect(vi.getTimerCount()).toBe(1);
    p.asked.length = 0;
    await vi.advanceTimersByTimeAsync(20_000);
    expect(p.asked).toEqual([1002, 1002, 1002, 1002]);
    await p.stop();
  });

  it("is unhealthy while the source fails, and drops an SVID that expires meanwhile with one event", async () => {
    const p = new TestProvider();
    const rotated: (number | "bundle")[] = [];
    p.setIdentities(new Set([1001]));
    await vi.advanceTimersByTimeAsync(0);
    p.onRotate((w) => rotated.push(w));
    p.failing.add(1001);
    await vi.advanceTimersByTimeAsync(5_000); // the renewal at half-life fails
    expect(p.healthy()).toBe(false);
    expect(p.svidFor(1001)).toBeDefined(); // still valid: kept
    expect(rotated).toEqual([]);
    await vi.advanceTimersByTimeAsync(5_000); // past notAfter; retried every 100 ms
    expect(p.svidFor(1001)).toBeUndefined();
    expect(rotated).toEqual([1001]);
    p.failing.delete(1001);
    await vi.advanceTimersByTimeAsync(100);
    expect(p.healthy()).toBe(true);
    expect(p.svidFor(1001)).toBeDefined();
    expect(rotated).toEqual([1001, 1001]);
    await p.stop();
  });

  it("leaves no timer after stop(), and fetches nothing for identities given after it", async () => {
    const p = new TestProvider();
    p.setIdentities(new Set([1001, 1002]));
    await vi.advanceTimersByTimeAsync(0);
    expect(vi.getTimerCount()).toBe(2);
    await p.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(p.svidFor(1001)).toBeUndefined();
    p.asked.length = 0;
    p.setIdentities(new Set([1003]));
    await vi.advanceTimersByTimeAsync(60_000);
    expect(p.asked).toEqual([]);
  });
});
