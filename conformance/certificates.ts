/**
 * The objects the upstream suite creates programmatically before the tests
 * (the catalogue's `suiteSetup.programmaticObjects`): self-signed serving
 * certificates, CAs in ConfigMaps (`ca.crt`), and certificates signed by those
 * CAs. Real ECDSA P-256 keys and X.509 certificates, fresh on every run.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";
import type { ProgrammaticObjectData } from "./catalogue.ts";

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export interface Issued {
  readonly certPem: string;
  readonly keyPem: string;
  readonly cert: x509.X509Certificate;
  readonly keys: webcrypto.CryptoKeyPair;
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALG, true, [
    "sign",
    "verify",
  ])) as unknown as webcrypto.CryptoKeyPair;
}

async function keyPem(keys: webcrypto.CryptoKeyPair): Promise<string> {
  const der = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

function sanExtension(hosts: readonly string[]): x509.Extension[] {
  if (hosts.length === 0) return [];
  const names = hosts.map((h) =>
    h.includes("://")
      ? { type: "url" as const, value: h }
      : /^\d+\.\d+\.\d+\.\d+$/.test(h)
        ? { type: "ip" as const, value: h }
        : { type: "dns" as const, value: h },
  );
  return [new x509.SubjectAlternativeNameExtension(names, false)];
}

let serial = 1;
function nextSerial(): string {
  serial++;
  return serial.toString(16).padStart(2, "0");
}

const NOT_BEFORE = new Date(Date.now() - 3600_000);
const NOT_AFTER = new Date(Date.now() + 365 * 24 * 3600_000);

export async function createCa(commonName: string): Promise<Issued> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${commonName}`,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    ],
  });
  return { cert, keys, certPem: cert.toString("pem"), keyPem: await keyPem(keys) };
}

export async function createSelfSigned(hosts: readonly string[]): Promise<Issued> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: `CN=${hosts[0] ?? "strait-conformance"}`,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    keys,
    signingAlgorithm: ALG,
    extensions: sanExtension(hosts),
  });
  return { cert, keys, certPem: cert.toString("pem"), keyPem: await keyPem(keys) };
}

export async function createSigned(
  ca: Issued,
  commonName: string,
  hosts: readonly string[],
  client: boolean,
): Promise<Issued> {
  const keys = await keyPair();
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: nextSerial(),
    subject: `CN=${commonName}`,
    issuer: ca.cert.subject,
    notBefore: NOT_BEFORE,
    notAfter: NOT_AFTER,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      ...sanExtension(hosts),
      new x509.ExtendedKeyUsageExtension([
        client ? x509.ExtendedKeyUsage.clientAuth : x509.ExtendedKeyUsage.serverAuth,
      ]),
    ],
  });
  return { cert, keys, certPem: cert.toString("pem"), keyPem: await keyPem(keys) };
}

function b64(text: string): string {
  return Buffer.from(text, "utf8").toString("base64");
}

export interface ProgrammaticObjects {
  /** Secret and ConfigMap manifests to apply. */
  readonly objects: readonly Record<string, unknown>[];
  /** Issued material by `namespace/name`, for checks that present or verify certificates. */
  readonly issued: ReadonlyMap<string, Issued>;
}

/** The CA a catalogue entry names: `CA "A"` → "A"; a ConfigMap's own "new CA" → its name. */
function caLetter(text: string | undefined): string | undefined {
  return /CA "([A-Z])"/.exec(text ?? "")?.[1];
}

/** Creates every programmatic object of the catalogue, with CAs shared by letter. */
export async function createProgrammaticObjects(
  entries: readonly ProgrammaticObjectData[],
): Promise<ProgrammaticObjects> {
  const cas = new Map<string, Issued>();
  const caFor = async (letter: string): Promise<Issued> => {
    let ca = cas.get(letter);
    if (ca === undefined) {
      ca = await createCa(`strait conformance CA ${letter}`);
      cas.set(letter, ca);
    }
    return ca;
  };
  const objects: Record<string, unknown>[] = [];
  const issued = new Map<string, Issued>();
  for (const entry of entries) {
    const metadata = { name: entry.name, namespace: entry.namespace };
    if (entry.kind === "ConfigMap") {
      const letter = caLetter(entry.holds) ?? `${entry.namespace}/${entry.name}`;
      const ca = await caFor(letter);
      issued.set(`${entry.namespace}/${entry.name}`, ca);
      objects.push({ apiVersion: "v1", kind: "ConfigMap", metadata, data: { "ca.crt": ca.certPem } });
      continue;
    }
    const letter = caLetter(entry.cert);
    const client = /client certificate/.test(entry.cert ?? "");
    const material =
      letter === undefined
        ? await createSelfSigned(entry.hosts ?? [])
        : await createSigned(
            await caFor(letter),
            client ? `client-${entry.name}` : (entry.hosts?.[0] ?? entry.name),
            entry.hosts ?? [],
            client,
          );
    issued.set(`${entry.namespace}/${entry.name}`, material);
    objects.push({
      apiVersion: "v1",
      kind: "Secret",
      metadata,
      type: entry.type ?? "kubernetes.io/tls",
      data: { "tls.crt": b64(material.certPem), "tls.key": b64(material.keyPem) },
    });
  }
  return { objects, issued };
}
