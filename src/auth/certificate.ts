/**
 * X.509 certificates as strait reads them: DER parsed once into the fields
 * the SVID rules look at. node:crypto checks signatures and issuer links
 * (OpenSSL); @peculiar/x509 reads the extensions node:crypto does not expose
 * (basic constraints with path length, key usage bits, URI SANs).
 */
import { X509Certificate as NodeCertificate } from "node:crypto";
import { err, ok, type Result } from "../model/result.ts";
import { x509 } from "./x509-lib.ts";

export interface ParsedCertificate {
  readonly der: Buffer;
  readonly node: NodeCertificate;
  readonly subject: string;
  readonly issuer: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** undefined when the extension is absent. */
  readonly basicConstraints: { readonly ca: boolean; readonly pathLength?: number } | undefined;
  /** Key usage bits (x509.KeyUsageFlags), undefined when the extension is absent. */
  readonly keyUsage: number | undefined;
  /** Extended key usage OIDs, undefined when the extension is absent. */
  readonly extendedKeyUsage: readonly string[] | undefined;
  readonly uriSans: readonly string[];
  readonly otherSans: readonly string[];
}

export const KEY_USAGE = x509.KeyUsageFlags;
export const EKU = { serverAuth: "1.3.6.1.5.5.7.3.1", clientAuth: "1.3.6.1.5.5.7.3.2" } as const;

export function parseCertificate(der: Buffer): Result<ParsedCertificate> {
  try {
    const node = new NodeCertificate(der);
    const cert = new x509.X509Certificate(der);
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const names = san?.names.items ?? [];
    return ok({
      der,
      node,
      subject: node.subject,
      issuer: node.issuer,
      notBefore: cert.notBefore,
      notAfter: cert.notAfter,
      basicConstraints:
        bc === null
          ? undefined
          : { ca: bc.ca, ...(bc.pathLength === undefined ? {} : { pathLength: bc.pathLength }) },
      keyUsage: ku === null ? undefined : ku.usages,
      extendedKeyUsage: eku === null ? undefined : eku.usages.map(String),
      uriSans: names.filter((n) => n.type === "url").map((n) => n.value),
      otherSans: names.filter((n) => n.type !== "url").map((n) => `${n.type}:${n.value}`),
    });
  } catch (error) {
    return err(`not a DER X.509 certificate: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Whether `issuer` signed `cert`: the names link and the signature verifies.
 * Deliberately not OpenSSL's X509_check_issued, which also refuses issuers
 * that are no CA: the SVID rules report that as its own reason.
 */
export function issuedBy(cert: ParsedCertificate, issuer: ParsedCertificate): boolean {
  if (cert.issuer !== issuer.subject) return false;
  try {
    return cert.node.verify(issuer.node.publicKey);
  } catch {
    return false;
  }
}

const PEM_BLOCK = /-----BEGIN ([A-Z ]+)-----([\s\S]*?)-----END \1-----/g;

/** DER blocks of one type from PEM text, in order. */
export function pemBlocks(pem: string, type = "CERTIFICATE"): Buffer[] {
  const out: Buffer[] = [];
  for (const m of pem.matchAll(PEM_BLOCK)) {
    if (m[1] === type) out.push(Buffer.from((m[2] ?? "").replace(/\s+/g, ""), "base64"));
  }
  return out;
}

export function derToPem(der: Buffer, type = "CERTIFICATE"): string {
  const lines = der.toString("base64").match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${type}-----\n${lines.join("\n")}\n-----END ${type}-----\n`;
}

/** Splits concatenated DER certificates (SPIRE's bundle and SVID fields) into single ones. */
export function splitDerSequence(der: Buffer): Result<Buffer[]> {
  const out: Buffer[] = [];
  let at = 0;
  while (at < der.length) {
    if (der[at] !== 0x30) return err(`byte ${at}: not an ASN.1 SEQUENCE`);
    const first = der[at + 1];
    if (first === undefined) return err("truncated certificate");
    let len: number;
    let header: number;
    if (first < 0x80) {
      len = first;
      header = 2;
    } else {
      const n = first & 0x7f;
      if (n === 0 || n > 4 || at + 2 + n > der.length) return err(`byte ${at}: bad DER length`);
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + (der[at + 2 + i] ?? 0);
      header = 2 + n;
    }
    if (at + header + len > der.length) return err("truncated certificate");
    out.push(der.subarray(at, at + header + len));
    at += header + len;
  }
  return ok(out);
}
