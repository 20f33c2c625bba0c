/**
 * Validating a TLS Secret before Envoy sees it: `tls.crt` must hold at least
 * one PEM certificate, `tls.key` a PEM private key matching the first
 * certificate. Envoy would reject the listener otherwise, taking the other
 * chains of the port down with it.
 */
import { createPrivateKey, X509Certificate } from "node:crypto";
import { err, ok, type Result } from "../model/result.ts";
import type { ObjectOf } from "../resources/objects.ts";

export interface TlsMaterial {
  readonly certificateChain: string;
  readonly privateKey: string;
  /** DNS names of the leaf certificate (SANs, else the CN). */
  readonly dnsNames: readonly string[];
}

function decode(value: unknown): string | undefined {
  if (typeof value !== "string") return undefined;
  return Buffer.from(value, "base64").toString("utf8");
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function validateTlsSecret(secret: ObjectOf<"Secret">): Result<TlsMaterial> {
  const data = (secret.data ?? {}) as Record<string, unknown>;
  const string = (secret.stringData ?? {}) as Record<string, unknown>;
  const crt =
    decode(data["tls.crt"]) ?? (typeof string["tls.crt"] === "string" ? string["tls.crt"] : undefined);
  const key =
    decode(data["tls.key"]) ?? (typeof string["tls.key"] === "string" ? string["tls.key"] : undefined);
  if (crt === undefined || crt.trim() === "") return err("Secret has no tls.crt");
  if (key === undefined || key.trim() === "") return err("Secret has no tls.key");
  const pems = crt.match(PEM_CERT) ?? [];
  if (pems.length === 0) return err("tls.crt holds no PEM certificate");
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(pems[0] ?? "");
    for (const pem of pems.slice(1)) new X509Certificate(pem);
  } catch (error) {
    return err(`tls.crt is not a valid certificate: ${(error as Error).message}`);
  }
  // Without this, Node's error for an encrypted key reads "interrupted or cancelled" (it asked for a passphrase).
  if (/-----BEGIN ENCRYPTED PRIVATE KEY-----|Proc-Type: 4,ENCRYPTED/.test(key))
    return err("tls.key is encrypted with a passphrase; Envoy needs an unencrypted private key");
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    return err(`tls.key is not a valid private key: ${(error as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) return err("tls.key does not match the certificate in tls.crt");
  const sans = (leaf.subjectAltName ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s.startsWith("DNS:"))
    .map((s) => s.slice(4));
  const cn = /CN=([^\n,]+)/.exec(leaf.subject)?.[1];
  return ok({
    certificateChain: pems.join("\n"),
    privateKey: key,
    dnsNames: sans.length > 0 ? sans : cn === undefined ? [] : [cn],
  });
}

/** A CA bundle (ConfigMap `ca.crt`): at least one valid PEM certificate. */
export function validateCaBundle(pem: string | undefined): Result<string> {
  if (pem === undefined || pem.trim() === "") return err("no ca.crt");
  const pems = pem.match(PEM_CERT) ?? [];
  if (pems.length === 0) return err("ca.crt holds no PEM certificate");
  try {
    for (const p of pems) new X509Certificate(p);
  } catch (error) {
    return err(`ca.crt is not a valid certificate: ${(error as Error).message}`);
  }
  return ok(pems.join("\n"));
}
