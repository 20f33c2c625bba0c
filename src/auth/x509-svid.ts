/**
 * X.509-SVID validation, exactly as the SPIFFE X.509-SVID specification
 * (sections 4 and 5) asks of a relying party:
 * - the leaf carries exactly one URI SAN, and it is a valid SPIFFE ID;
 * - the leaf is not a CA (basicConstraints cA false), has digitalSignature
 *   and neither keyCertSign nor cRLSign;
 * - when the leaf restricts its extended key usage, it allows the role it
 *   plays here (id-kp-clientAuth for a client, id-kp-serverAuth for a server);
 * - the chain verifies to a root of the trust bundle of the ID's own trust
 *   domain (never another domain's bundle), every issuer being a CA with
 *   keyCertSign, within its path length, and every certificate of the path
 *   inside its validity window.
 * Every rejection carries a reason code, for logs, metrics and tests.
 * Pure apart from signature checks; the time is passed in.
 */
import { err, ok, type Result } from "../model/result.ts";
import { EKU, issuedBy, KEY_USAGE, type ParsedCertificate, parseCertificate } from "./certificate.ts";
import {
  formatSpiffeId,
  parseSpiffeId,
  type SpiffeId,
  spiffeIdEquals,
  type TrustDomain,
} from "./spiffe-id.ts";
import type { TrustBundleSet } from "./trust-bundle.ts";

export type SvidRejectionReason =
  | "empty-chain"
  | "malformed-certificate"
  | "no-uri-san"
  | "multiple-uri-sans"
  | "invalid-spiffe-id"
  | "leaf-is-ca"
  | "missing-digital-signature"
  | "leaf-signs-certificates"
  | "wrong-extended-key-usage"
  | "wrong-trust-domain"
  | "no-bundle-for-trust-domain"
  | "self-signed-leaf"
  | "untrusted-chain"
  | "issuer-not-ca"
  | "path-length-exceeded"
  | "expired"
  | "not-yet-valid"
  | "wrong-spiffe-id";

export interface SvidRejection {
  readonly reason: SvidRejectionReason;
  readonly message: string;
}

export interface VerifiedSvid {
  readonly id: SpiffeId;
  readonly leaf: ParsedCertificate;
  /** Leaf first, ending at the bundle's root. */
  readonly path: readonly ParsedCertificate[];
  readonly notAfter: Date;
}

export interface SvidCheck {
  /** What the certificate is used for here (which extended key usage it must allow). */
  readonly role: "client" | "server";
  readonly now: Date;
  /** When set, the SVID must carry exactly this ID. */
  readonly expectedId?: SpiffeId;
  /** When set, the SVID must be of this trust domain (checked before the bundle). */
  readonly expectedTrustDomain?: TrustDomain;
}

/** Longest chain followed; SPIFFE chains are short, this only bounds the work. */
const MAX_DEPTH = 8;

function reject(reason: SvidRejectionReason, message: string): Result<never, SvidRejection> {
  return err({ reason, message });
}

function windowCheck(cert: ParsedCertificate, what: string, now: Date): Result<void, SvidRejection> {
  if (now.getTime() > cert.notAfter.getTime()) {
    return reject("expired", `${what} expired at ${cert.notAfter.toISOString()}`);
  }
  if (now.getTime() < cert.notBefore.getTime()) {
    return reject("not-yet-valid", `${what} is not valid before ${cert.notBefore.toISOString()}`);
  }
  return ok(undefined);
}

/** The leaf rules of X.509-SVID section 4 (what the certificate is, before whom it chains to). */
function checkLeaf(leaf: ParsedCertificate, role: SvidCheck["role"]): Result<SpiffeId, SvidRejection> {
  if (leaf.uriSans.length === 0) {
    const others = leaf.otherSans.length === 0 ? "no SAN at all" : `only ${leaf.otherSans.join(", ")}`;
    return reject("no-uri-san", `leaf has no URI SAN (${others})`);
  }
  if (leaf.uriSans.length > 1) {
    return reject(
      "multiple-uri-sans",
      `leaf has ${leaf.uriSans.length} URI SANs; an X.509-SVID has exactly one`,
    );
  }
  const id = parseSpiffeId(leaf.uriSans[0] ?? "");
  if (!id.ok) return reject("invalid-spiffe-id", `leaf URI SAN is not a SPIFFE ID: ${id.error}`);
  if (leaf.basicConstraints?.ca === true) return reject("leaf-is-ca", "leaf has basicConstraints cA=true");
  if (leaf.keyUsage === undefined || (leaf.keyUsage & KEY_USAGE.digitalSignature) === 0) {
    return reject("missing-digital-signature", "leaf key usage lacks digitalSignature");
  }
  if ((leaf.keyUsage & (KEY_USAGE.keyCertSign | KEY_USAGE.cRLSign)) !== 0) {
    return reject("leaf-signs-certificates", "leaf key usage has keyCertSign or cRLSign");
  }
  const wanted = role === "client" ? EKU.clientAuth : EKU.serverAuth;
  if (leaf.extendedKeyUsage !== undefined && !leaf.extendedKeyUsage.includes(wanted)) {
    return reject(
      "wrong-extended-key-usage",
      `leaf extended key usage (${leaf.extendedKeyUsage.join(", ")}) does not allow ${role === "client" ? "clientAuth" : "serverAuth"}`,
    );
  }
  return ok(id.value);
}

/**
 * Validates a presented chain (leaf first, then any intermediates, DER) as an
 * X.509-SVID for `check.role`, against the bundles.
 */
export function validateX509Svid(
  chainDer: readonly Buffer[],
  bundles: TrustBundleSet,
  check: SvidCheck,
): Result<VerifiedSvid, SvidRejection> {
  if (chainDer.length === 0) return reject("empty-chain", "no certificate presented");
  const chain: ParsedCertificate[] = [];
  for (const [i, der] of chainDer.entries()) {
    const c = parseCertificate(der);
    if (!c.ok) return reject("malformed-certificate", `certificate ${i}: ${c.error}`);
    chain.push(c.value);
  }
  const leaf = chain[0] as ParsedCertificate;
  const id = checkLeaf(leaf, check.role);
  if (!id.ok) return id;

  if (check.expectedTrustDomain !== undefined && id.value.trustDomain !== check.expectedTrustDomain) {
    return reject(
      "wrong-trust-domain",
      `${formatSpiffeId(id.value)} is of trust domain ${id.value.trustDomain}, expected ${check.expectedTrustDomain}`,
    );
  }
  const bundle = bundles.get(id.value.trustDomain);
  if (bundle === undefined || bundle.roots.length === 0) {
    return reject("no-bundle-for-trust-domain", `no trust bundle for trust domain ${id.value.trustDomain}`);
  }

  const leafWindow = windowCheck(leaf, "leaf", check.now);
  if (!leafWindow.ok) return leafWindow;

  // Build the path upward: the issuer of each certificate is one of the presented
  // intermediates or a bundle root. A root ends the path.
  const intermediates = chain.slice(1);
  const path: ParsedCertificate[] = [leaf];
  let current = leaf;
  for (let depth = 0; ; depth++) {
    if (depth >= MAX_DEPTH) return reject("untrusted-chain", `no root within ${MAX_DEPTH} certificates`);
    const root = bundle.roots.find((r) => issuedBy(current, r));
    const issuer =
      root ?? intermediates.find((c) => c !== current && !path.includes(c) && issuedBy(current, c));
    if (issuer === undefined) {
      if (current === leaf && issuedBy(leaf, leaf)) {
        return reject("self-signed-leaf", "leaf is self-signed and not issued by the trust bundle");
      }
      return reject(
        "untrusted-chain",
        `no issuer for "${current.subject.replaceAll("\n", ", ")}" in the chain or the bundle of ${id.value.trustDomain}`,
      );
    }
    const what =
      root === undefined ? `intermediate "${issuer.subject.replaceAll("\n", ", ")}"` : "bundle root";
    if (issuer.basicConstraints?.ca !== true) return reject("issuer-not-ca", `${what} is not a CA`);
    if (issuer.keyUsage !== undefined && (issuer.keyUsage & KEY_USAGE.keyCertSign) === 0) {
      return reject("issuer-not-ca", `${what} lacks keyCertSign`);
    }
    // pathLenConstraint: the number of intermediates below the issuer (the leaf excluded).
    const below = path.length - 1;
    const max = issuer.basicConstraints.pathLength;
    if (max !== undefined && below > max) {
      return reject(
        "path-length-exceeded",
        `${what} allows ${max} intermediate(s) below it, the path has ${below}`,
      );
    }
    const window = windowCheck(issuer, what, check.now);
    if (!window.ok) return window;
    path.push(issuer);
    if (root !== undefined) break;
    current = issuer;
  }

  if (check.expectedId !== undefined && !spiffeIdEquals(id.value, check.expectedId)) {
    return reject(
      "wrong-spiffe-id",
      `peer is ${formatSpiffeId(id.value)}, expected ${formatSpiffeId(check.expectedId)}`,
    );
  }
  return ok({ id: id.value, leaf, path, notAfter: leaf.notAfter });
}
