import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { CertificateAuthority } from "../auth/builtin-ca/authority.ts";
import { derToPem } from "../auth/certificate.ts";
import type { Svid } from "../auth/identity-provider.ts";
import { MemoryIdentityProvider } from "../auth/memory-provider.ts";
import { identitySpiffeId, parseTrustDomain } from "../auth/spiffe-id.ts";
import { svidFrom } from "../auth/test-certificates.ts";
import { bundleSet, trustBundle } from "../auth/trust-bundle.ts";
import { resolveSettings } from "../controller/config.ts";
import { BUNDLE_FILE_NAME, bundleSecretName, svidFileName, svidSecretName } from "../model/encryption.ts";
import { validateResource } from "../xds/proto/index.ts";
import { EnvoySvidFiles, envoySvidBase } from "./envoy-svids.ts";
import { AGENT_SETTINGS } from "./settings.ts";

const td = parseTrustDomain("enc.test");
if (!td.ok) throw new Error(td.error);
const TD = td.value;
const A = 1001;
const B = 1002;

interface SdsFile {
  readonly resources: readonly (Record<string, unknown> & { "@type": string; name: string })[];
}

describe("the node Envoy's tunnel SVID files", () => {
  let ca: CertificateAuthority;
  let svids: Record<number, Svid[]>;
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });

  beforeAll(async () => {
    ca = await CertificateAuthority.generate(TD, new Date());
    svids = {
      [A]: [await svidFrom(ca, identitySpiffeId(TD, A)), await svidFrom(ca, identitySpiffeId(TD, A))],
      [B]: [await svidFrom(ca, identitySpiffeId(TD, B))],
    };
  });

  function setup() {
    const dir = join(mkdtempSync(join(tmpdir(), "strait-envoy-svids-")), "node-a");
    dirs.push(dir);
    const provider = new MemoryIdentityProvider(TD);
    const errors: string[] = [];
    const files = new EnvoySvidFiles({ dir, provider, onError: (_e, file) => errors.push(file) });
    return { dir, provider, files, errors };
  }

  function read(dir: string, name: string): SdsFile {
    const path = join(dir, name);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const doc = JSON.parse(readFileSync(path, "utf8")) as SdsFile;
    expect(doc.resources).toHaveLength(1);
    const { "@type": typeUrl, ...secret } = doc.resources[0] ?? { "@type": "", name: "" };
    expect(validateResource(typeUrl, secret)).toEqual([]);
    return doc;
  }

  function certificateOf(doc: SdsFile): { chain: string; key: string } {
    const tls = doc.resources[0]?.tls_certificate as {
      certificate_chain: { inline_string: string };
      private_key: { inline_string: string };
    };
    return { chain: tls.certificate_chain.inline_string, key: tls.private_key.inline_string };
  }

  it("writes the bundle and one SVID file per local identity with an SVID, as the secrets the Envoy configuration names", () => {
    const { dir, provider, files, errors } = setup();
    const bundle = trustBundle(TD, [ca.rootDer]);
    if (!bundle.ok) throw new Error(bundle.error);
    provider.setSvid(A, svids[A]?.[0]);
    files.start();
    expect(readdirSync(dir)).toEqual([]); // no bundle yet, and no desired state
    provider.setBundles(bundleSet(bundle.value));
    expect(readdirSync(dir)).toEqual([BUNDLE_FILE_NAME]);
    files.setIdentities(new Set([A, B])); // B has no SVID yet
    expect(readdirSync(dir).sort()).toEqual([BUNDLE_FILE_NAME, svidFileName(A)]);

    const b = read(dir, BUNDLE_FILE_NAME);
    expect(b.resources[0]).toEqual({
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
      name: bundleSecretName(TD),
      validation_context: { trusted_ca: { inline_string: derToPem(ca.rootDer) } },
    });
    const a = read(dir, svidFileName(A));
    expect(a.resources[0]?.name).toBe(svidSecretName(TD, A));
    expect(a.resources[0]?.name).toBe(`spiffe://${TD}/identity/${A}`);
    expect(certificateOf(a)).toEqual({
      chain: (svids[A]?.[0]?.chainDer ?? []).map((d) => derToPem(d)).join(""),
      key: svids[A]?.[0]?.keyPem,
    });

    provider.setSvid(B, svids[B]?.[0]); // fetched later: its file appears
    expect(certificateOf(read(dir, svidFileName(B))).key).toBe(svids[B]?.[0]?.keyPem);
    expect(errors).toEqual([]);
  });

  it("replaces a file on rotation, and removes it when its identity leaves the node or loses its SVID", () => {
    const { dir, provider, files } = setup();
    provider.setSvid(A, svids[A]?.[0]);
    provider.setSvid(B, svids[B]?.[0]);
    files.start();
    files.setIdentities(new Set([A, B]));
    const before = certificateOf(read(dir, svidFileName(A)));
    provider.setSvid(A, svids[A]?.[1]);
    const after = certificateOf(read(dir, svidFileName(A)));
    expect(after.key).toBe(svids[A]?.[1]?.keyPem);
    expect(after.chain).not.toBe(before.chain);
    // No temporary file is left behind.
    expect(readdirSync(dir).sort()).toEqual([svidFileName(A), svidFileName(B)]);

    files.setIdentities(new Set([A]));
    expect(readdirSync(dir)).toEqual([svidFileName(A)]);
    provider.setSvid(A, undefined);
    expect(readdirSync(dir)).toEqual([]);
    // A rotation of an identity that is not local writes nothing.
    provider.setSvid(B, svids[B]?.[0]);
    expect(readdirSync(dir)).toEqual([]);
  });

  it("keeps a previous agent's files until the first desired state, then removes the stale ones and stops with the rest in place", () => {
    const { dir, provider, files } = setup();
    files.start();
    writeFileSync(join(dir, svidFileName(7777)), "{}");
    writeFileSync(join(dir, `.${svidFileName(A)}.1234.tmp`), "{}");
    writeFileSync(join(dir, "unrelated.txt"), "x");
    provider.setSvid(A, svids[A]?.[0]);
    expect(readdirSync(dir)).toContain(svidFileName(7777));
    files.setIdentities(new Set([A]));
    expect(readdirSync(dir).sort()).toEqual([svidFileName(A), "unrelated.txt"]);
    files.stop();
    provider.setSvid(A, svids[A]?.[1]); // no longer followed
    expect(certificateOf(read(dir, svidFileName(A))).key).toBe(svids[A]?.[0]?.keyPem);
  });
});

describe("strait agent --envoy-svid-dir", () => {
  const settings = (flags: Record<string, unknown>) => resolveSettings(AGENT_SETTINGS, flags, {}, undefined);

  it("is off by default, and needs an identity provider", () => {
    expect(envoySvidBase(settings({}))).toBeUndefined();
    expect(() => envoySvidBase(settings({ "envoy-svid-dir": "/run/svids" }))).toThrow(
      /--envoy-svid-dir needs an identity provider \(--auth-provider/,
    );
    expect(envoySvidBase(settings({ "envoy-svid-dir": "/run/svids", "auth-provider": "spire" }))).toBe(
      "/run/svids",
    );
  });
});
