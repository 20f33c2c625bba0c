/**
 * The X.509-SVID rules, one bad certificate per rule (issue 13's matrix and
 * the rest of the spec's MUSTs), each rejected with its reason. Certificates
 * are made here with @peculiar/x509 and checked with OpenSSL through node:crypto.
 */

import { beforeAll, describe, expect, it } from "vitest";
import { caExtensions, generateKeyPair, issueCertificate, type KeyPair, svidExtensions } from "./issue.ts";
import { DEFAULT_TRUST_DOMAIN, identitySpiffeId, type TrustDomain } from "./spiffe-id.ts";
import { bundleSet, type TrustBundleSet, trustBundle } from "./trust-bundle.ts";
import { x509 } from "./x509-lib.ts";
import { type SvidRejectionReason, validateX509Svid } from "./x509-svid.ts";

const NOW = new Date("2030-06-01T12:00:00Z");
const HOUR = 3600_000;
const before = new Date(NOW.getTime() - HOUR);
const after = new Date(NOW.getTime() + HOUR);
const TD = DEFAULT_TRUST_DOMAIN;
const OTHER_TD = "other.example" as TrustDomain;
const ID = "spiffe://strait.local/identity/1002";

interface Ca {
  readonly name: string;
  readonly keys: KeyPair;
  readonly der: Buffer;
}

async function makeRoot(name: string, opts: { pathLength?: number } = {}): Promise<Ca> {
  const keys = await generateKeyPair();
  const der = await issueCertificate({
    subject: name,
    publicKey: keys.publicKey,
    selfKey: keys.privateKey,
    notBefore: new Date(NOW.getTime() - 24 * HOUR),
    notAfter: new Date(NOW.getTime() + 24 * HOUR),
    extensions: await caExtensions(keys.publicKey, opts.pathLength),
  });
  return { name, keys, der };
}

async function makeIntermediate(
  parent: Ca,
  name: string,
  opts: { ca?: boolean; notAfter?: Date } = {},
): Promise<Ca> {
  const keys = await generateKeyPair();
  const extensions =
    opts.ca === false ? svidExtensions("spiffe://strait.local/not-a-ca") : await caExtensions(keys.publicKey);
  const der = await issueCertificate({
    subject: name,
    publicKey: keys.publicKey,
    issuer: { name: parent.name, privateKey: parent.keys.privateKey },
    notBefore: new Date(NOW.getTime() - 24 * HOUR),
    notAfter: opts.notAfter ?? new Date(NOW.getTime() + 24 * HOUR),
    extensions,
  });
  return { name, keys, der };
}

async function leaf(
  issuer: Ca,
  opts: {
    extensions?: x509.Extension[];
    uri?: string;
    notBefore?: Date;
    notAfter?: Date;
    self?: boolean;
  } = {},
): Promise<Buffer> {
  const keys = await generateKeyPair();
  return issueCertificate({
    subject: "O=SPIRE",
    publicKey: keys.publicKey,
    ...(opts.self === true
      ? { selfKey: keys.privateKey }
      : { issuer: { name: issuer.name, privateKey: issuer.keys.privateKey } }),
    notBefore: opts.notBefore ?? before,
    notAfter: opts.notAfter ?? after,
    extensions: opts.extensions ?? svidExtensions(opts.uri ?? ID),
  });
}

const KU = x509.KeyUsageFlags;
const bc = (ca: boolean) => new x509.BasicConstraintsExtension(ca, undefined, true);
const ku = (bits: number) => new x509.KeyUsagesExtension(bits, true);
const eku = (...u: string[]) => new x509.ExtendedKeyUsageExtension(u);
const san = (...names: { type: "url" | "dns"; value: string }[]) =>
  new x509.SubjectAlternativeNameExtension(names, true);

describe("validateX509Svid (SPIFFE X.509-SVID spec)", () => {
  let root: Ca;
  let inter: Ca;
  let otherRoot: Ca;
  let bundles: TrustBundleSet;

  beforeAll(async () => {
    root = await makeRoot("CN=strait root");
    inter = await makeIntermediate(root, "CN=strait intermediate");
    otherRoot = await makeRoot("CN=other root");
    const local = trustBundle(TD, [root.der]);
    const other = trustBundle(OTHER_TD, [otherRoot.der]);
    if (!local.ok || !other.ok) throw new Error("bundle");
    bundles = bundleSet(local.value);
  });

  const check = { role: "client" as const, now: NOW, expectedTrustDomain: TD };

  it("accepts a leaf issued by the root, and one through an intermediate", async () => {
    const direct = validateX509Svid([await leaf(root)], bundles, {
      ...check,
      expectedId: identitySpiffeId(TD, 1002),
    });
    expect(direct.ok).toBe(true);
    if (direct.ok) {
      expect(direct.value.id).toEqual({ trustDomain: TD, path: "/identity/1002" });
      expect(direct.value.notAfter).toEqual(after);
      expect(direct.value.path).toHaveLength(2);
    }
    const via = validateX509Svid([await leaf(inter), inter.der], bundles, { ...check, role: "server" });
    expect(via.ok).toBe(true);
    if (via.ok) expect(via.value.path).toHaveLength(3);
  });

  const cases: [string, () => Promise<Buffer[]>, SvidRejectionReason, Partial<typeof check>?][] = [
    [
      "wrong trust domain",
      async () => [await leaf(otherRoot, { uri: "spiffe://other.example/identity/1002" })],
      "wrong-trust-domain",
    ],
    [
      "a trust domain with no bundle (no expected domain given)",
      async () => [await leaf(otherRoot, { uri: "spiffe://other.example/identity/1002" })],
      "no-bundle-for-trust-domain",
      { expectedTrustDomain: undefined } as unknown as Partial<typeof check>,
    ],
    [
      "this trust domain's ID signed by another domain's root",
      async () => [await leaf(otherRoot)],
      "untrusted-chain",
    ],
    [
      "expired",
      async () => [await leaf(root, { notBefore: new Date(NOW.getTime() - 2 * HOUR), notAfter: before })],
      "expired",
    ],
    [
      "not yet valid",
      async () => [await leaf(root, { notBefore: after, notAfter: new Date(NOW.getTime() + 2 * HOUR) })],
      "not-yet-valid",
    ],
    [
      "a CA leaf",
      async () => [
        await leaf(root, {
          extensions: [bc(true), ku(KU.digitalSignature | KU.keyCertSign), san({ type: "url", value: ID })],
        }),
      ],
      "leaf-is-ca",
    ],
    [
      "two URI SANs",
      async () => [
        await leaf(root, {
          extensions: [
            bc(false),
            ku(KU.digitalSignature),
            san({ type: "url", value: ID }, { type: "url", value: "spiffe://strait.local/identity/1003" }),
          ],
        }),
      ],
      "multiple-uri-sans",
    ],
    [
      "no SAN at all",
      async () => [await leaf(root, { extensions: [bc(false), ku(KU.digitalSignature)] })],
      "no-uri-san",
    ],
    [
      "a DNS-only SAN",
      async () => [
        await leaf(root, {
          extensions: [bc(false), ku(KU.digitalSignature), san({ type: "dns", value: "1002.strait.local" })],
        }),
      ],
      "no-uri-san",
    ],
    [
      "a URI SAN that is no SPIFFE ID",
      async () => [await leaf(root, { uri: "https://strait.local/identity/1002" })],
      "invalid-spiffe-id",
    ],
    [
      "key usage without digitalSignature",
      async () => [
        await leaf(root, {
          extensions: [bc(false), ku(KU.keyEncipherment), san({ type: "url", value: ID })],
        }),
      ],
      "missing-digital-signature",
    ],
    [
      "no key usage extension",
      async () => [await leaf(root, { extensions: [bc(false), san({ type: "url", value: ID })] })],
      "missing-digital-signature",
    ],
    [
      "keyCertSign on a leaf",
      async () => [
        await leaf(root, {
          extensions: [bc(false), ku(KU.digitalSignature | KU.keyCertSign), san({ type: "url", value: ID })],
        }),
      ],
      "leaf-signs-certificates",
    ],
    [
      "cRLSign on a leaf",
      async () => [
        await leaf(root, {
          extensions: [bc(false), ku(KU.digitalSignature | KU.cRLSign), san({ type: "url", value: ID })],
        }),
      ],
      "leaf-signs-certificates",
    ],
    [
      "an EKU without clientAuth (codeSigning)",
      async () => [
        await leaf(root, {
          extensions: [
            bc(false),
            ku(KU.digitalSignature),
            eku(x509.ExtendedKeyUsage.codeSigning),
            san({ type: "url", value: ID }),
          ],
        }),
      ],
      "wrong-extended-key-usage",
    ],
    [
      "an EKU of serverAuth only, presented by a client",
      async () => [
        await leaf(root, {
          extensions: [
            bc(false),
            ku(KU.digitalSignature),
            eku(x509.ExtendedKeyUsage.serverAuth),
            san({ type: "url", value: ID }),
          ],
        }),
      ],
      "wrong-extended-key-usage",
    ],
    ["a broken chain (the intermediate left out)", async () => [await leaf(inter)], "untrusted-chain"],
    ["a self-signed leaf", async () => [await leaf(root, { self: true })], "self-signed-leaf"],
    [
      "an intermediate that is no CA",
      async () => {
        const notCa = await makeIntermediate(root, "CN=leafish", { ca: false });
        return [await leaf(notCa), notCa.der];
      },
      "issuer-not-ca",
    ],
    [
      "an expired intermediate",
      async () => {
        const old = await makeIntermediate(root, "CN=old intermediate", { notAfter: before });
        return [await leaf(old), old.der];
      },
      "expired",
    ],
    [
      "the wrong identity",
      async () => [await leaf(root, { uri: "spiffe://strait.local/identity/1003" })],
      "wrong-spiffe-id",
      { expectedId: identitySpiffeId(TD, 1002) } as Partial<typeof check>,
    ],
    [
      "garbage instead of a certificate",
      async () => [Buffer.from("not a certificate")],
      "malformed-certificate",
    ],
    ["nothing", async () => [], "empty-chain"],
  ];

  it.each(cases)("rejects %s", async (_name, make, reason, extra) => {
    const r = validateX509Svid(await make(), bundles, { ...check, ...(extra ?? {}) });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.error.reason).toBe(reason);
      expect(r.error.message).not.toBe("");
    }
  });

  it("rejects a path longer than a CA's path length", async () => {
    const tight = await makeRoot("CN=tight root", { pathLength: 0 });
    const mid = await makeIntermediate(tight, "CN=under tight");
    const b = trustBundle(TD, [tight.der]);
    if (!b.ok) throw new Error(b.error);
    const r = validateX509Svid([await leaf(mid), mid.der], bundleSet(b.value), check);
    expect(r).toMatchObject({ ok: false, error: { reason: "path-length-exceeded" } });
    // pathLength 0 still allows a leaf right under the root
    expect(validateX509Svid([await leaf(tight)], bundleSet(b.value), check).ok).toBe(true);
  });
});
