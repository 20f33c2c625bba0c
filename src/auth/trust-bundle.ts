/**
 * Trust bundles: the root certificates of each trust domain (SPIFFE Trust
 * Domain and Bundle spec). A relying party validates an SVID only against
 * the bundle of the SVID's own trust domain.
 */
import { err, ok, type Result } from "../model/result.ts";
import { type ParsedCertificate, parseCertificate } from "./certificate.ts";
import type { TrustDomain } from "./spiffe-id.ts";

export interface TrustBundle {
  readonly trustDomain: TrustDomain;
  readonly roots: readonly ParsedCertificate[];
}

/** Bundles by trust domain (the local one and any federated ones). */
export type TrustBundleSet = ReadonlyMap<TrustDomain, TrustBundle>;

export function trustBundle(trustDomain: TrustDomain, rootsDer: readonly Buffer[]): Result<TrustBundle> {
  const roots: ParsedCertificate[] = [];
  for (const [i, der] of rootsDer.entries()) {
    const c = parseCertificate(der);
    if (!c.ok) return err(`bundle of ${trustDomain}, root ${i}: ${c.error}`);
    roots.push(c.value);
  }
  return ok({ trustDomain, roots });
}

export function bundleSet(...bundles: readonly TrustBundle[]): TrustBundleSet {
  return new Map(bundles.map((b) => [b.trustDomain, b]));
}
