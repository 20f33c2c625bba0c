/**
 * Where SVIDs and trust bundles come from, behind one interface (Cilium's
 * CertificateProvider): the built-in CA, SPIRE's Delegated Identity API, or
 * cert-manager. The auth manager and the handshake only see this.
 *
 * Fail closed: until a provider has a bundle, or an SVID for an identity,
 * it answers undefined, and no handshake for that identity can succeed.
 */
import type { SpiffeId, TrustDomain } from "./spiffe-id.ts";
import type { TrustBundleSet } from "./trust-bundle.ts";

/** An X.509-SVID with its private key, ready for node:tls. */
export interface Svid {
  readonly id: SpiffeId;
  /** Leaf first, then intermediates (no root). */
  readonly chainDer: readonly Buffer[];
  /** PKCS#8 PEM. */
  readonly keyPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export interface IdentityProvider {
  readonly name: string;
  readonly trustDomain: TrustDomain;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The identities this node needs SVIDs for (its local endpoints'); the provider fetches them. */
  setIdentities(identities: ReadonlySet<number>): void;
  /** The bundles (own trust domain and federated ones), undefined before the first one arrived. */
  bundles(): TrustBundleSet | undefined;
  /** The current SVID of a security identity, undefined when there is none (yet, or any more). */
  svidFor(identity: number): Svid | undefined;
  /** Called with the identity whose SVID was replaced or removed, and with "bundle" when the bundle changed. */
  onRotate(listener: (what: number | "bundle") => void): () => void;
  /** Whether the provider's source is reachable now (for status and metrics). */
  healthy(): boolean;
}

/** A listener set, for providers. */
export class RotationListeners {
  readonly #listeners = new Set<(what: number | "bundle") => void>();

  add(l: (what: number | "bundle") => void): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  emit(what: number | "bundle"): void {
    for (const l of this.#listeners) l(what);
  }
}
