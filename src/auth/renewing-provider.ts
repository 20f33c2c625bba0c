/**
 * The renewal machinery the fetching identity providers share (built-in CA,
 * cert-manager): for each security identity of this node's endpoints, an
 * X.509-SVID fetched from the source, renewed at half its lifetime (SPIRE's
 * rule), retried with a doubling back-off while the source fails. An SVID
 * that expires without renewal is dropped: fail closed. Subclasses say how
 * one SVID is fetched, and validate what they got before returning it.
 */
import { messageOf } from "../errors.ts";
import { type IdentityProvider, RotationListeners, type Svid } from "./identity-provider.ts";
import type { TrustDomain } from "./spiffe-id.ts";
import type { TrustBundleSet } from "./trust-bundle.ts";

export interface RenewingProviderOptions {
  readonly now?: () => Date;
  readonly logger?: { warn(o: object, m: string): void; info(o: object, m: string): void };
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

interface Held {
  svid?: Svid;
  timer?: NodeJS.Timeout;
  failures: number;
}

export abstract class RenewingProvider implements IdentityProvider {
  abstract readonly name: string;
  readonly trustDomain: TrustDomain;
  protected readonly now: () => Date;
  readonly #options: RenewingProviderOptions;
  readonly #held = new Map<number, Held>();
  readonly #listeners = new RotationListeners();
  #healthy = false;
  #stopped = false;

  constructor(trustDomain: TrustDomain, options: RenewingProviderOptions) {
    this.trustDomain = trustDomain;
    this.#options = options;
    this.now = options.now ?? (() => new Date());
  }

  /** Fetches a new SVID of `identity` (a fresh key each time); throws when the source fails. */
  protected abstract fetchSvid(identity: number): Promise<Svid>;

  abstract bundles(): TrustBundleSet | undefined;

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const h of this.#held.values()) clearTimeout(h.timer);
    this.#held.clear();
  }

  healthy(): boolean {
    return this.#healthy;
  }

  svidFor(identity: number): Svid | undefined {
    const svid = this.#held.get(identity)?.svid;
    return svid !== undefined && svid.notAfter.getTime() > this.now().getTime() ? svid : undefined;
  }

  onRotate(listener: (what: number | "bundle") => void): () => void {
    return this.#listeners.add(listener);
  }

  setIdentities(identities: ReadonlySet<number>): void {
    for (const [id, h] of this.#held) {
      if (identities.has(id)) continue;
      clearTimeout(h.timer);
      this.#held.delete(id);
      this.#listeners.emit(id);
    }
    for (const id of identities) {
      if (this.#held.has(id)) continue;
      const h: Held = { failures: 0 };
      this.#held.set(id, h);
      void this.#renew(id, h);
    }
  }

  /** Fetches a fresh SVID now (tests, and the rotation timer). */
  async renewNow(identity: number): Promise<boolean> {
    const h = this.#held.get(identity);
    return h === undefined ? false : this.#renew(identity, h);
  }

  protected emit(what: number | "bundle"): void {
    this.#listeners.emit(what);
  }

  async #renew(identity: number, h: Held): Promise<boolean> {
    clearTimeout(h.timer);
    let svid: Svid;
    try {
      svid = await this.fetchSvid(identity);
    } catch (error) {
      this.#healthy = false;
      h.failures++;
      const min = this.#options.retryMinMs ?? 500;
      const delay = Math.min(this.#options.retryMaxMs ?? 30_000, min * 2 ** Math.min(h.failures - 1, 10));
      this.#options.logger?.warn({ identity, error: messageOf(error), retryInMs: delay }, "SVID not issued");
      // An expired SVID is dropped even while the source is away.
      if (h.svid !== undefined && h.svid.notAfter.getTime() <= this.now().getTime()) {
        delete h.svid;
        this.#listeners.emit(identity);
      }
      if (!this.#stopped && this.#held.get(identity) === h)
        h.timer = setTimeout(() => void this.#renew(identity, h), delay);
      return false;
    }
    if (this.#stopped || this.#held.get(identity) !== h) return false;
    this.#healthy = true;
    h.failures = 0;
    h.svid = svid;
    // Half of the lifetime left when it arrived (notBefore is back-dated for clock skew).
    const now = this.now().getTime();
    const renewAt = now + (svid.notAfter.getTime() - now) / 2;
    h.timer = setTimeout(() => void this.#renew(identity, h), Math.max(1000, renewAt - this.now().getTime()));
    this.#options.logger?.info({ identity, notAfter: svid.notAfter.toISOString() }, "SVID issued");
    this.#listeners.emit(identity);
    return true;
  }
}
