/**
 * The built-in CA's certificates for xDS, which replace plaintext xDS
 * between the controller, the agents and the nodes' Envoys:
 *
 * - the xDS server's: `spiffe://<td>/strait-controller` (the issuer's own
 *   identity) plus the DNS names and addresses clients dial, made and signed
 *   in the controller itself;
 * - a node's clients': `spiffe://<td>/strait-node/<node>/agent` and
 *   `.../envoy`, issued by the issuer (`POST /v1/xds-certificates`) to the
 *   node whose token the agent presents, for a key the agent made.
 *
 * None of these is a workload identity (`/identity/N`), so none passes for
 * one in a mutual-auth handshake. Each is renewed at half its lifetime
 * (SPIRE's rule), retried with a doubling back-off while issuing fails.
 */
import { derToPem } from "../certificate.ts";
import { generateKeyPair, privateKeyPem, publicKeyPem } from "../issue.ts";
import { Renewal, type RenewalTiming } from "../renewal.ts";
import { formatSpiffeId } from "../spiffe-id.ts";
import { x509 } from "../x509-lib.ts";
import { validateX509Svid } from "../x509-svid.ts";
import type { CertificateAuthority } from "./authority.ts";
import { chainOf, type IssuerEndpoint, postToIssuer } from "./issuer-client.ts";
import { controllerId, type XdsClientRole, xdsClientId } from "./names.ts";

/** Default lifetime of the xDS certificates. */
export const DEFAULT_XDS_CERT_TTL_MS = 24 * 3600_000;

/** A certificate chain and its private key (PEM), and when the leaf expires. */
export interface CertificatePair {
  readonly chainPem: string;
  readonly keyPem: string;
  readonly notAfter: Date;
}

/** The xDS server's certificate: made here, signed by the CA, for `names` (DNS names and IPs). */
export async function issueXdsServerCertificate(
  ca: CertificateAuthority,
  names: readonly string[],
  now: Date,
  ttlMs: number,
): Promise<CertificatePair> {
  const keys = await generateKeyPair();
  const der = await ca.issue(
    controllerId(ca.trustDomain),
    await publicKeyPem(keys.publicKey),
    now,
    ttlMs,
    names,
  );
  if (!der.ok) throw new TypeError(der.error); // the ID is of the CA's own trust domain
  return {
    chainPem: derToPem(der.value),
    keyPem: await privateKeyPem(keys.privateKey),
    notAfter: new x509.X509Certificate(der.value).notAfter,
  };
}

/** A node's xDS client certificate for `role`, from the issuer; checked before it is used. */
export async function fetchXdsClientCertificate(
  issuer: IssuerEndpoint,
  node: string,
  role: XdsClientRole,
): Promise<CertificatePair> {
  const keys = await generateKeyPair();
  const chainDer = chainOf(
    await postToIssuer(issuer, "/v1/xds-certificates", {
      role,
      publicKey: await publicKeyPem(keys.publicKey),
    }),
  );
  const expected = xdsClientId(issuer.trustDomain, node, role);
  const v = validateX509Svid(chainDer, issuer.bundles, {
    role: "client",
    now: issuer.now(),
    expectedId: expected,
  });
  if (!v.ok) {
    throw new Error(
      `issuer gave an invalid xDS certificate for ${formatSpiffeId(expected)}: ${v.error.message}`,
    );
  }
  return {
    chainPem: chainDer.map((d) => derToPem(d)).join(""),
    keyPem: await privateKeyPem(keys.privateKey),
    notAfter: v.value.notAfter,
  };
}

export interface RenewingCertificateOptions extends RenewalTiming {
  /** What the certificate is for, in log lines. */
  readonly what: string;
  readonly issue: () => Promise<CertificatePair>;
}

/**
 * One certificate kept current by a `Renewal` (renewal.ts): issued at
 * `start()`, renewed at half the lifetime left, listeners told of each new
 * one. A failed issue is retried with back-off; the current certificate is
 * kept until it expires, then `current()` is undefined (fail closed: no
 * expired certificate is offered).
 */
export class RenewingCertificate {
  readonly #renewal: Renewal<CertificatePair>;
  readonly #listeners = new Set<(pair: CertificatePair) => void>();
  /** Certificates issued so far (tests and metrics). */
  issued = 0;

  constructor(options: RenewingCertificateOptions) {
    this.#renewal = new Renewal({
      timing: options,
      noun: "certificate",
      logFields: { certificate: options.what },
      issue: options.issue,
      issued: (pair) => {
        this.issued++;
        for (const listener of this.#listeners) listener(pair);
      },
    });
  }

  /** Issues the first certificate; resolves whether that worked (retries go on in the background). */
  start(): Promise<boolean> {
    return this.#renewal.start();
  }

  stop(): void {
    this.#renewal.stop();
  }

  current(): CertificatePair | undefined {
    return this.#renewal.current();
  }

  onChange(listener: (pair: CertificatePair) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Issues a new certificate now (the renewal timer, and tests). */
  renewNow(): Promise<boolean> {
    return this.#renewal.renewNow();
  }
}
