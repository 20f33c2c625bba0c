/**
 * Making keys and certificates (ECDSA P-256, SHA-256), for the built-in CA
 * and for tests that need certificates with particular flaws. Each extension
 * is a choice of the caller; `svidExtensions` and `caExtensions` give the
 * ones the X.509-SVID spec asks for.
 */
import { webcrypto } from "node:crypto";
import { isIP } from "node:net";

type CryptoKey = webcrypto.CryptoKey;

import { derToPem } from "./certificate.ts";
import { x509 } from "./x509-lib.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface KeyPair {
  readonly publicKey: CryptoKey;
  readonly privateKey: CryptoKey;
}

export async function generateKeyPair(): Promise<KeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as KeyPair;
}

/** PKCS#8 PEM of a private key, as node:tls takes it. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key));
  return derToPem(der, "PRIVATE KEY");
}

export async function importPrivateKeyPem(pem: string): Promise<KeyPair> {
  const { createPrivateKey, createPublicKey } = await import("node:crypto");
  const priv = createPrivateKey(pem);
  const pub = createPublicKey(priv);
  const privateKey = await webcrypto.subtle.importKey(
    "pkcs8",
    priv.export({ type: "pkcs8", format: "der" }),
    ALG,
    true,
    ["sign"],
  );
  const publicKey = await webcrypto.subtle.importKey(
    "spki",
    pub.export({ type: "spki", format: "der" }),
    ALG,
    true,
    ["verify"],
  );
  return { publicKey, privateKey } as unknown as KeyPair;
}

export interface IssueOptions {
  readonly subject: string;
  readonly publicKey: CryptoKey;
  /** The issuer; omitted for a self-signed certificate (signed with `selfKey`). */
  readonly issuer?: { readonly name: string | x509.Name; readonly privateKey: CryptoKey };
  readonly selfKey?: CryptoKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly extensions: readonly x509.Extension[];
  readonly serialNumber?: string;
}

function randomSerial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = (b[0] ?? 0) & 0x7f; // positive
  return Buffer.from(b).toString("hex");
}

export async function issueCertificate(o: IssueOptions): Promise<Buffer> {
  const signingKey = o.issuer?.privateKey ?? o.selfKey;
  if (signingKey === undefined) throw new TypeError("issueCertificate: an issuer or selfKey is needed");
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: o.serialNumber ?? randomSerial(),
    subject: o.subject,
    issuer: o.issuer?.name ?? o.subject,
    notBefore: o.notBefore,
    notAfter: o.notAfter,
    signingAlgorithm: ALG,
    publicKey: o.publicKey,
    signingKey,
    extensions: [...o.extensions],
  });
  return Buffer.from(cert.rawData);
}

export async function caExtensions(publicKey: CryptoKey, pathLength?: number): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
}

/**
 * What the X.509-SVID spec asks of a leaf: one URI SAN, not a CA, digitalSignature, both TLS EKUs.
 * `hosts` (DNS names or IP addresses) are added as DNS or IP SANs beside the URI.
 */
export function svidExtensions(uri: string, hosts: readonly string[] = []): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(
      x509.KeyUsageFlags.digitalSignature |
        x509.KeyUsageFlags.keyEncipherment |
        x509.KeyUsageFlags.keyAgreement,
      true,
    ),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
    new x509.SubjectAlternativeNameExtension(
      [
        { type: "url", value: uri },
        ...hosts.map((h) => ({ type: isIP(h) === 0 ? ("dns" as const) : ("ip" as const), value: h })),
      ],
      true,
    ),
  ];
}

/** The SPKI PEM of a public key: what an agent sends the built-in CA's issuer. */
export async function publicKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("spki", key));
  return derToPem(der, "PUBLIC KEY");
}
