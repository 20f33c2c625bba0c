/**
 * The agent's SDS for its node's Envoy (envoy-sds.ts) against a raw delta
 * xDS client over its real unix socket (real gRPC, the Envoy protos): the
 * secrets Envoy asks for by name appear for the node's identities as the
 * provider has them, change on rotation and on a bundle change, and are
 * removed when their identity leaves the node or loses its SVID. Envoy on
 * the same socket: test/encryption-inbound.e2e.test.ts.
 */
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { RawAdsClient, type Response } from "../../test/support/raw-ads-client.ts";
import { CertificateAuthority } from "../auth/builtin-ca/authority.ts";
import { derToPem } from "../auth/certificate.ts";
import type { Svid } from "../auth/identity-provider.ts";
import { MemoryIdentityProvider } from "../auth/memory-provider.ts";
import { identitySpiffeId, parseTrustDomain } from "../auth/spiffe-id.ts";
import { svidFrom } from "../auth/test-certificates.ts";
import { bundleSet, trustBundle } from "../auth/trust-bundle.ts";
import { resolveSettings } from "../controller/config.ts";
import { bundleSecretName, svidSecretName } from "../model/encryption.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import { EnvoySecretServer, envoySdsDir } from "./envoy-sds.ts";
import { AGENT_SETTINGS } from "./settings.ts";

const parsed = parseTrustDomain("sds.test");
if (!parsed.ok) throw new Error(parsed.error);
const TD = parsed.value;
const A = 1001;
const B = 1002;
const SVID_A = svidSecretName(TD, A);
const SVID_B = svidSecretName(TD, B);
const BUNDLE = bundleSecretName(TD);

const names = (r: Response) => r.resources.map((x) => x.name).sort();
const pemChain = (svid: Svid | undefined) => (svid?.chainDer ?? []).map((d) => derToPem(d)).join("");
const certificateOf = (r: Response, name: string) => {
  const tls = r.resources.find((x) => x.name === name)?.json.tls_certificate as
    | { certificate_chain: { inline_string: string }; private_key: { inline_string: string } }
    | undefined;
  return tls === undefined
    ? undefined
    : { chain: tls.certificate_chain.inline_string, key: tls.private_key.inline_string };
};

describe("strait agent --envoy-sds-dir", () => {
  const settings = (flags: Record<string, unknown>) => resolveSettings(AGENT_SETTINGS, flags, {}, undefined);

  it("is off by default, and needs an identity provider", () => {
    expect(envoySdsDir(settings({}))).toBeUndefined();
    expect(() => envoySdsDir(settings({ "envoy-sds-dir": "/run/sds" }))).toThrow(
      /--envoy-sds-dir needs an identity provider \(--auth-provider/,
    );
    expect(envoySdsDir(settings({ "envoy-sds-dir": "/run/sds", "auth-provider": "spire" }))).toBe("/run/sds");
  });
});

describe("the agent's SDS for its node's Envoy", () => {
  let ca: CertificateAuthority;
  let nextCa: CertificateAuthority;
  let svids: { a1: Svid; a2: Svid; b: Svid };
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  beforeAll(async () => {
    ca = await CertificateAuthority.generate(TD, new Date());
    nextCa = await CertificateAuthority.generate(TD, new Date());
    svids = {
      a1: await svidFrom(ca, identitySpiffeId(TD, A)),
      a2: await svidFrom(ca, identitySpiffeId(TD, A)),
      b: await svidFrom(ca, identitySpiffeId(TD, B)),
    };
  });

  async function setup() {
    const dir = mkdtempSync(join(tmpdir(), "strait-envoy-sds-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const provider = new MemoryIdentityProvider(TD);
    const bundle = trustBundle(TD, [ca.rootDer]);
    if (!bundle.ok) throw new Error(bundle.error);
    provider.setBundles(bundleSet(bundle.value));
    provider.setSvid(A, svids.a1);
    const sds = new EnvoySecretServer({
      provider,
      dir: join(dir, "sds"),
      node: "node-a",
      logger: pino({ level: "silent" }),
    });
    await sds.start();
    cleanups.push(() => sds.stop());
    const client = new RawAdsClient(`unix:${sds.socket}`, "delta");
    cleanups.push(() => client.close());
    return { provider, sds, client };
  }

  /** The next response, ACKed. */
  async function next(client: RawAdsClient): Promise<Response> {
    const r = await client.next();
    client.send({ type_url: r.typeUrl, response_nonce: r.nonce });
    return r;
  }

  it("listens on <dir>/<node>.sock, mode 0600, and serves the node's SVIDs and the bundle by name", async () => {
    const { sds, client } = await setup();
    expect(sds.socket).toMatch(/\/sds\/node-a\.sock$/);
    expect(statSync(sds.socket).mode & 0o777).toBe(0o600);
    sds.setIdentities(new Set([A, B])); // B has no SVID yet
    client.send({
      node: { id: "envoy-node-a", cluster: "strait" },
      type_url: TYPE_URLS.secret,
      resource_names_subscribe: [SVID_A, SVID_B, BUNDLE],
    });
    const first = await next(client);
    expect(names(first)).toEqual([BUNDLE, SVID_A].sort());
    expect(first.removed).toEqual([SVID_B]); // does not exist (yet): Envoy keeps waiting for it
    expect(certificateOf(first, SVID_A)).toEqual({ chain: pemChain(svids.a1), key: svids.a1.keyPem });
    expect(first.resources.find((x) => x.name === BUNDLE)?.json).toEqual({
      name: BUNDLE,
      validation_context: { trusted_ca: { inline_string: derToPem(ca.rootDer) } },
    });
    expect(sds.secretNames()).toEqual([BUNDLE, SVID_A]);
  });

  it("sends an SVID once the provider has it, a rotated one in place, a new bundle, and removes what leaves", async () => {
    const { provider, sds, client } = await setup();
    sds.setIdentities(new Set([A, B]));
    client.send({
      node: { id: "envoy-node-a", cluster: "strait" },
      type_url: TYPE_URLS.secret,
      resource_names_subscribe: [SVID_A, SVID_B, BUNDLE],
    });
    await next(client);

    provider.setSvid(B, svids.b);
    const fetched = await next(client);
    expect(names(fetched)).toEqual([SVID_B]);
    expect(certificateOf(fetched, SVID_B)?.key).toBe(svids.b.keyPem);

    provider.setSvid(A, svids.a2);
    const rotated = await next(client);
    expect(names(rotated)).toEqual([SVID_A]);
    expect(certificateOf(rotated, SVID_A)).toEqual({ chain: pemChain(svids.a2), key: svids.a2.keyPem });

    const bundle = trustBundle(TD, [ca.rootDer, nextCa.rootDer]);
    if (!bundle.ok) throw new Error(bundle.error);
    provider.setBundles(bundleSet(bundle.value));
    const rebundled = await next(client);
    expect(names(rebundled)).toEqual([BUNDLE]);
    expect(rebundled.resources[0]?.json.validation_context).toEqual({
      trusted_ca: { inline_string: derToPem(ca.rootDer) + derToPem(nextCa.rootDer) },
    });

    // A leaves the node: its secret goes; B loses its SVID (expired, say): fail closed, it goes too.
    sds.setIdentities(new Set([B]));
    const left = await next(client);
    expect(left).toMatchObject({ resources: [], removed: [SVID_A] });
    provider.setSvid(B, undefined);
    const lost = await next(client);
    expect(lost).toMatchObject({ resources: [], removed: [SVID_B] });
    expect(sds.secretNames()).toEqual([BUNDLE]);
    // An identity that is not the node's gets no secret, whatever the provider holds.
    provider.setSvid(A, svids.a1);
    await client.quiet();
  });
});
