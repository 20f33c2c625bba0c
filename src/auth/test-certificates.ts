/**
 * Certificates for tests of the handshake and the auth manager: SVIDs made
 * by a real CertificateAuthority, with the lifetime or ID a test needs.
 */
import { createPublicKey, webcrypto } from "node:crypto";
import type { CertificateAuthority } from "./builtin-ca/authority.ts";
import type { Svid } from "./identity-provider.ts";
import { generateKeyPair, privateKeyPem } from "./issue.ts";
import type { SpiffeId } from "./spiffe-id.ts";

export async function svidFrom(
  ca: CertificateAuthority,
  id: SpiffeId,
  opts: { now?: Date; ttlMs?: number } = {},
): Promise<Svid> {
  const keys = await generateKeyPair();
  const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey));
  const pem = createPublicKey({ key: spki, format: "der", type: "spki" }).export({
    type: "spki",
    format: "pem",
  });
  const now = opts.now ?? new Date();
  // CA.issue refuses IDs of other trust domains; a test that wants one uses a CA of that domain.
  const r = await ca.issue(id, String(pem), now, opts.ttlMs);
  if (!r.ok) throw new Error(r.error);
  const { parseCertificate } = await import("./certificate.ts");
  const leaf = parseCertificate(r.value);
  if (!leaf.ok) throw new Error(leaf.error);
  return {
    id,
    chainDer: [r.value],
    keyPem: await privateKeyPem(keys.privateKey),
    notBefore: leaf.value.notBefore,
    notAfter: leaf.value.notAfter,
  };
}
