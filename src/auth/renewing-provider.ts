/**
 * The identity providers that fetch SVIDs (built-in CA, cert-manager): for
 * each security identity of this node's endpoints, one `Renewal`
 * (renewal.ts) of its X.509-SVID: renewed at half its lifetime (SPIRE's
 * rule), retried with a doubling back-off while the source fails, dropped
 * when it expires without renewal (fail closed). Subclasses say how one SVID
 * is fetched, and validate what they got before returning it.
 */
import { type IdentityProvider, RotationListeners, type Svid } from "./identity-provider.ts";
import { Renewal, type RenewalTiming } from "./renewal.ts";
import type { TrustDomain } from "./spiffe-id.ts";
import type { TrustBundleSet } from "./trust-bundle.ts";

export type RenewingProviderOptions = RenewalTiming;

export abstract class RenewingProvider implements IdentityProvider {
  abstract readonly name: string;
  readonly trustDomain: TrustDomain;
  protected readonly now: () => Date;
  readonly #options: RenewingProviderOptions;
  readonly #held = new Map<number, Renewal<Svid>>();
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
    for (const renewal of this.#held.values()) renewal.stop();
    this.#held.clear();
  }

  healthy(): boolean {
    return this.#healthy;
  }

  svidFor(identity: number): Svid | undefined {
    return this.#held.get(identity)?.current();
  }

  onRotate(listener: (what: number | "bundle") => void): () => void {
    return this.#listeners.add(listener);
  }

  setIdentities(identities: ReadonlySet<number>): void {
    for (const [id, renewal] of this.#held) {
      if (identities.has(id)) continue;
      renewal.stop();
      this.#held.delete(id);
      this.#listeners.emit(id);
    }
    if (this.#stopped) return;
    for (const id of identities) {
      if (this.#held.has(id)) continue;
      const renewal = this.#renewal(id);
      this.#held.set(id, renewal);
      void renewal.start();
    }
  }

  /** Fetches a fresh SVID now (tests, and the rotation timer). */
  async renewNow(identity: number): Promise<boolean> {
    return (await this.#held.get(identity)?.renewNow()) ?? false;
  }

  protected emit(what: number | "bundle"): void {
    this.#listeners.emit(what);
  }

  #renewal(identity: number): Renewal<Svid> {
    return new Renewal({
      timing: this.#options,
      noun: "SVID",
      logFields: { identity },
      issue: () => this.fetchSvid(identity),
      issued: () => {
        this.#healthy = true;
        this.#listeners.emit(identity);
      },
      failed: () => {
        this.#healthy = false;
      },
      expired: () => this.#listeners.emit(identity),
    });
  }
}
