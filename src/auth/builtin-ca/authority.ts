/**
 * The built-in CA's signing side (runs in the controller): a root key and
 * certificate, read from a folder (a mounted Secret: tls.crt, tls.key) or
 * generated on first start and written there, and short-lived X.509-SVIDs
 * issued for public keys the agents send. Private keys of SVIDs never leave
 * the agent that made them.
 */
import { createPublicKey, webcrypto } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ERROR_CODES, StraitError } from "../../errors.ts";
import { err, ok, type Result } from "../../model/result.ts";
import { derToPem, parseCertificate, pemBlocks } from "../certificate.ts";
import {
  caExtensions,
  generateKeyPair,
  importPrivateKeyPem,
  issueCertificate,
  type KeyPair,
  privateKeyPem,
  svidExtensions,
} from "../issue.ts";
import { formatSpiffeId, type SpiffeId, type TrustDomain } from "../spiffe-id.ts";
import { x509 } from "../x509-lib.ts";

const ROOT_TTL_MS = 365 * 24 * 3600_000;
/** Default SVID lifetime: short, as SPIRE's default X.509-SVID TTL is one hour. */
export const DEFAULT_SVID_TTL_MS = 3600_000;
/** Back-dating of notBefore, for clocks a little apart. */
const CLOCK_SKEW_MS = 30_000;

export class CertificateAuthority {
  readonly trustDomain: TrustDomain;
  readonly rootDer: Buffer;
  readonly #keys: KeyPair;
  readonly #name: x509.Name;
  readonly #rootNotAfter: Date;

  private constructor(trustDomain: TrustDomain, rootDer: Buffer, keys: KeyPair) {
    this.trustDomain = trustDomain;
    this.rootDer = rootDer;
    this.#keys = keys;
    const root = new x509.X509Certificate(rootDer);
    this.#name = root.subjectName;
    this.#rootNotAfter = root.notAfter;
  }

  /** A new root, kept in memory only. */
  static async generate(trustDomain: TrustDomain, now: Date): Promise<CertificateAuthority> {
    const keys = await generateKeyPair();
    const name = `O=strait, CN=strait built-in CA ${trustDomain}`;
    const rootDer = await issueCertificate({
      subject: name,
      publicKey: keys.publicKey,
      selfKey: keys.privateKey,
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(now.getTime() + ROOT_TTL_MS),
      extensions: [
        ...(await caExtensions(keys.publicKey, 0)),
        // The root names its trust domain (X.509-SVID 4.1 allows a signing certificate to carry one).
        ...svidExtensions(`spiffe://${trustDomain}`).filter((e) => e.type === "2.5.29.17"),
      ],
    });
    return new CertificateAuthority(trustDomain, rootDer, keys);
  }

  /** The root from `dir` (tls.crt, tls.key), generated there when absent: a Secret's keys. */
  static async loadOrCreate(trustDomain: TrustDomain, dir: string, now: Date): Promise<CertificateAuthority> {
    const crt = join(dir, "tls.crt");
    const key = join(dir, "tls.key");
    if (existsSync(crt) && existsSync(key)) {
      const der = pemBlocks(readFileSync(crt, "utf8"))[0];
      if (der === undefined) throw new StraitError(ERROR_CODES.CONFIG, `${crt} holds no certificate`);
      const parsed = parseCertificate(der);
      if (!parsed.ok) throw new StraitError(ERROR_CODES.CONFIG, `${crt}: ${parsed.error}`);
      const keys = await importPrivateKeyPem(readFileSync(key, "utf8"));
      return new CertificateAuthority(trustDomain, der, keys);
    }
    const ca = await CertificateAuthority.generate(trustDomain, now);
    try {
      mkdirSync(dir, { recursive: true });
      writeFileSync(key, await privateKeyPem(ca.#keys.privateKey), { mode: 0o600 });
      writeFileSync(crt, derToPem(ca.rootDer));
    } catch (cause) {
      throw new StraitError(ERROR_CODES.IO_WRITE, `cannot write the CA root to ${dir}`, { cause });
    }
    return ca;
  }

  /**
   * Issues an X.509-SVID for `id` to the holder of `publicKeyPem` (SPKI PEM).
   * `dnsNames` (host names and IP addresses) go beside the URI SAN, which the
   * X.509-SVID spec allows: the xDS server's certificate carries the names
   * its clients dial (xds-certificates.ts).
   */
  async issue(
    id: SpiffeId,
    publicKeyPem: string,
    now: Date,
    ttlMs = DEFAULT_SVID_TTL_MS,
    dnsNames: readonly string[] = [],
  ): Promise<Result<Buffer>> {
    if (id.trustDomain !== this.trustDomain) {
      return err(`${formatSpiffeId(id)} is not of this CA's trust domain ${this.trustDomain}`);
    }
    let publicKey: webcrypto.CryptoKey;
    try {
      const spki = createPublicKey(publicKeyPem).export({ type: "spki", format: "der" });
      publicKey = await webcrypto.subtle.importKey(
        "spki",
        spki,
        { name: "ECDSA", namedCurve: "P-256" },
        true,
        ["verify"],
      );
    } catch (error) {
      return err(`not an ECDSA P-256 public key: ${error instanceof Error ? error.message : String(error)}`);
    }
    // Never past the root: an SVID outliving its issuer would fail validation early.
    const notAfter = Math.min(now.getTime() + ttlMs, this.#rootNotAfter.getTime());
    const der = await issueCertificate({
      subject: "O=strait",
      publicKey,
      issuer: { name: this.#name, privateKey: this.#keys.privateKey },
      notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
      notAfter: new Date(notAfter),
      extensions: svidExtensions(formatSpiffeId(id), dnsNames),
    });
    return ok(der);
  }
}
