/**
 * An identity provider whose SVIDs and bundles are handed to it (by a test,
 * or by a component that obtains them some other way, such as mounted
 * Secrets). It never fetches anything.
 */
import { type IdentityProvider, RotationListeners, type Svid } from "./identity-provider.ts";
import type { TrustDomain } from "./spiffe-id.ts";
import type { TrustBundleSet } from "./trust-bundle.ts";

export class MemoryIdentityProvider implements IdentityProvider {
  readonly name: string;
  readonly trustDomain: TrustDomain;
  readonly #svids = new Map<number, Svid>();
  readonly #listeners = new RotationListeners();
  #bundles: TrustBundleSet | undefined;
  wanted: ReadonlySet<number> = new Set();

  constructor(trustDomain: TrustDomain, name = "memory") {
    this.trustDomain = trustDomain;
    this.name = name;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  healthy(): boolean {
    return this.#bundles !== undefined;
  }

  setIdentities(identities: ReadonlySet<number>): void {
    this.wanted = identities;
  }

  bundles(): TrustBundleSet | undefined {
    return this.#bundles;
  }

  svidFor(identity: number): Svid | undefined {
    return this.#svids.get(identity);
  }

  onRotate(listener: (what: number | "bundle") => void): () => void {
    return this.#listeners.add(listener);
  }

  setBundles(bundles: TrustBundleSet | undefined): void {
    this.#bundles = bundles;
    this.#listeners.emit("bundle");
  }

  setSvid(identity: number, svid: Svid | undefined): void {
    if (svid === undefined) this.#svids.delete(identity);
    else this.#svids.set(identity, svid);
    this.#listeners.emit(identity);
  }
}
