/**
 * The built-in CA's xDS certificates over the issuer's real HTTPS channel:
 * a node's agent gets client certificates naming its own node and role, and
 * nothing for a bad token, role or key; the server certificate carries the
 * names clients dial; a renewing certificate renews at half its lifetime and
 * offers nothing once expired while issuing fails.
 */
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pemBlocks } from "../certificate.ts";
import { generateKeyPair, publicKeyPem } from "../issue.ts";
import { DEFAULT_TRUST_DOMAIN, formatSpiffeId } from "../spiffe-id.ts";
import { bundleSet, trustBundle } from "../trust-bundle.ts";
import { validateX509Svid } from "../x509-svid.ts";
import { CertificateAuthority } from "./authority.ts";
import type { IssuerEndpoint } from "./issuer-client.ts";
import { postToIssuer } from "./issuer-client.ts";
import { type RunningIssuer, startIssuerServer } from "./issuer-server.ts";
import { controllerId, xdsClientId } from "./names.ts";
import {
  type CertificatePair,
  fetchXdsClientCertificate,
  issueXdsServerCertificate,
  RenewingCertificate,
} from "./xds-certificates.ts";

const TD = DEFAULT_TRUST_DOMAIN;

describe("built-in CA xDS certificates", () => {
  let ca: CertificateAuthority;
  let issuer: RunningIssuer;
  let endpoint: (token: string) => IssuerEndpoint;

  beforeAll(async () => {
    ca = await CertificateAuthority.generate(TD, new Date());
    issuer = await startIssuerServer(
      {
        ca,
        nodeTokens: new Map([
          ["token-of-node-a-0123456789", "node-a"],
          ["token-of-node-b-0123456789", "node-b"],
        ]),
        mayIssue: () => false,
        xdsCertTtlMs: 60_000,
      },
      { host: "127.0.0.1", port: 0 },
    );
    const bundle = trustBundle(TD, [ca.rootDer]);
    if (!bundle.ok) throw new Error(bundle.error);
    endpoint = (token) => ({
      url: issuer.url,
      nodeToken: token,
      trustDomain: TD,
      rootDer: ca.rootDer,
      bundles: bundleSet(bundle.value),
      now: () => new Date(),
    });
  });
  afterAll(async () => {
    await issuer?.close();
  });

  it("gives a node's agent client certificates naming its node and role, valid X.509-SVIDs for 60 s", async () => {
    for (const role of ["agent", "envoy"] as const) {
      const pair = await fetchXdsClientCertificate(endpoint("token-of-node-a-0123456789"), "node-a", role);
      const der = pemBlocks(pair.chainPem);
      const v = validateX509Svid(der, endpoint("").bundles, {
        role: "client",
        now: new Date(),
        expectedId: xdsClientId(TD, "node-a", role),
      });
      expect(v.ok).toBe(true);
      expect(pair.notAfter.getTime() - Date.now()).toBeLessThanOrEqual(60_000);
      expect(pair.notAfter.getTime() - Date.now()).toBeGreaterThan(50_000);
      expect(pair.keyPem).toContain("PRIVATE KEY");
    }
  });

  it("names the node the token belongs to, so a node cannot get another node's certificate", async () => {
    // node-b's token, presented by an agent that says it is node-a: the certificate names node-b.
    await expect(
      fetchXdsClientCertificate(endpoint("token-of-node-b-0123456789"), "node-a", "agent"),
    ).rejects.toThrow(/strait-node\/node-a\/agent/);
  });

  it("refuses an unknown token, an unknown role and a key that is not ECDSA P-256", async () => {
    const keys = await generateKeyPair();
    const publicKey = await publicKeyPem(keys.publicKey);
    await expect(
      postToIssuer(endpoint("not-a-token-0123456789"), "/v1/xds-certificates", { role: "agent", publicKey }),
    ).rejects.toThrow(/401/);
    const good = endpoint("token-of-node-a-0123456789");
    await expect(postToIssuer(good, "/v1/xds-certificates", { role: "admin", publicKey })).rejects.toThrow(
      /400.*role: must be one of agent, envoy/,
    );
    await expect(
      postToIssuer(good, "/v1/xds-certificates", { role: "agent", publicKey: "nonsense" }),
    ).rejects.toThrow(/400.*ECDSA P-256/);
    await expect(postToIssuer(good, "/v1/xds-certificates", ["agent"])).rejects.toThrow(/400/);
  });

  it("makes the server certificate for the controller's SPIFFE ID and the names clients dial", async () => {
    const pair = await issueXdsServerCertificate(
      ca,
      ["strait-controller.ns.svc", "10.0.0.1"],
      new Date(),
      60_000,
    );
    const cert = new X509Certificate(pair.chainPem);
    expect(cert.subjectAltName).toContain(`URI:${formatSpiffeId(controllerId(TD))}`);
    expect(cert.checkHost("strait-controller.ns.svc")).toBe("strait-controller.ns.svc");
    expect(cert.checkIP("10.0.0.1")).toBe("10.0.0.1");
    expect(cert.checkHost("other.ns.svc")).toBeUndefined();
    expect(cert.verify(new X509Certificate(ca.rootDer).publicKey)).toBe(true);
  });
});

describe("RenewingCertificate", () => {
  it("renews at half the lifetime left, tells its listeners, and offers nothing once expired while issuing fails", async () => {
    let now = Date.now();
    let fail = false;
    let n = 0;
    const made: CertificatePair[] = [];
    const cert = new RenewingCertificate({
      what: "test",
      now: () => new Date(now),
      retryMinMs: 20,
      retryMaxMs: 20,
      issue: async () => {
        if (fail) throw new Error("issuer away");
        n++;
        return { chainPem: `chain ${n}`, keyPem: `key ${n}`, notAfter: new Date(now + 2_400) };
      },
    });
    cert.onChange((p) => made.push(p));
    expect(await cert.start()).toBe(true);
    expect(cert.current()?.chainPem).toBe("chain 1");
    // Half of 2.4 s: renewed after about 1.2 s (real timers), not before.
    await new Promise((r) => setTimeout(r, 800));
    expect(made).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 700));
    expect(made.map((p) => p.chainPem)).toEqual(["chain 1", "chain 2"]);
    fail = true;
    expect(await cert.renewNow()).toBe(false);
    expect(cert.current()?.chainPem).toBe("chain 2"); // still valid: kept
    now += 10_000; // past its notAfter
    expect(cert.current()).toBeUndefined();
    cert.stop();
  });
});
