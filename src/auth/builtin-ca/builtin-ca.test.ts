/**
 * The built-in CA over its real channel: the issuer on HTTPS (TLS 1.3, its
 * own SVID), the agent-side provider asking for SVIDs with a node token.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_TRUST_DOMAIN, formatSpiffeId } from "../spiffe-id.ts";
import { validateX509Svid } from "../x509-svid.ts";
import { CertificateAuthority } from "./authority.ts";
import { type RunningIssuer, startIssuerServer } from "./issuer-server.ts";
import { BuiltinCaProvider } from "./provider.ts";

const TD = DEFAULT_TRUST_DOMAIN;

async function until(probe: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > end) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("built-in CA", () => {
  let dir: string;
  let ca: CertificateAuthority;
  let issuer: RunningIssuer;
  const issued: [string, number][] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "strait-auth-ca-"));
    ca = await CertificateAuthority.loadOrCreate(TD, join(dir, "ca"), new Date());
    issuer = await startIssuerServer(
      {
        ca,
        nodeTokens: new Map([["token-a", "node-a"]]),
        mayIssue: (node, identity) => node === "node-a" && identity !== 6666,
        svidTtlMs: 4000,
        onIssued: (node, identity) => issued.push([node, identity]),
      },
      { host: "127.0.0.1", port: 0 },
    );
  });
  afterAll(async () => {
    await issuer?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps its root in the folder: a second start reads the same root", async () => {
    const again = await CertificateAuthority.loadOrCreate(TD, join(dir, "ca"), new Date());
    expect(again.rootDer.equals(ca.rootDer)).toBe(true);
  });

  it("issues SVIDs to an agent with a node token, valid per the X.509-SVID rules, and renews them at half-life", async () => {
    const provider = new BuiltinCaProvider({
      trustDomain: TD,
      url: issuer.url,
      nodeToken: "token-a",
      bootstrapRootDer: ca.rootDer,
    });
    const rotated: (number | "bundle")[] = [];
    provider.onRotate((w) => rotated.push(w));
    provider.setIdentities(new Set([1001, 6666]));
    await until(() => provider.svidFor(1001) !== undefined);
    const svid = provider.svidFor(1001);
    expect(formatSpiffeId(svid?.id ?? { trustDomain: TD, path: "" })).toBe(
      "spiffe://strait.local/identity/1001",
    );
    const bundles = provider.bundles();
    const v = validateX509Svid(svid?.chainDer ?? [], bundles, { role: "server", now: new Date() });
    expect(v.ok).toBe(true);
    expect((svid?.notAfter.getTime() ?? 0) - Date.now()).toBeLessThanOrEqual(4000);
    expect(provider.svidFor(6666)).toBeUndefined(); // refused: that node has no endpoint of it
    expect(issued).toContainEqual(["node-a", 1001]);
    // Renewal at half of the 4 s lifetime (+30 s back-dating: the first timer fires at once, clamped to 1 s).
    await until(() => rotated.filter((w) => w === 1001).length >= 2, 8000);
    expect(provider.svidFor(1001)?.chainDer[0]?.equals(svid?.chainDer[0] ?? Buffer.alloc(0))).toBe(false);
    provider.setIdentities(new Set());
    expect(provider.svidFor(1001)).toBeUndefined();
    await provider.stop();
  }, 15_000);

  it("refuses an unknown node token: no SVID", async () => {
    const provider = new BuiltinCaProvider({
      trustDomain: TD,
      url: issuer.url,
      nodeToken: "wrong",
      bootstrapRootDer: ca.rootDer,
      retryMinMs: 50,
    });
    provider.setIdentities(new Set([1001]));
    await new Promise((r) => setTimeout(r, 300));
    expect(provider.svidFor(1001)).toBeUndefined();
    expect(provider.healthy()).toBe(false);
    await provider.stop();
  });

  it("refuses an issuer that is not the controller of this CA", async () => {
    const otherCa = await CertificateAuthority.generate(TD, new Date());
    const provider = new BuiltinCaProvider({
      trustDomain: TD,
      url: issuer.url,
      nodeToken: "token-a",
      bootstrapRootDer: otherCa.rootDer,
      retryMinMs: 50,
    });
    provider.setIdentities(new Set([1001]));
    await new Promise((r) => setTimeout(r, 300));
    expect(provider.svidFor(1001)).toBeUndefined();
    await provider.stop();
  });
});

describe("built-in CA root made with openssl (the chart's Secret, the README's recipe)", () => {
  it("uses the ECDSA P-256 root from the folder as it is, and the SVIDs it issues chain to it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-auth-openssl-"));
    try {
      // The recipe in the chart's README.
      const key = join(dir, "tls.key");
      const crt = join(dir, "tls.crt");
      execFileSync("openssl", [
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        key,
      ]);
      execFileSync("openssl", [
        ...["req", "-x509", "-new", "-key", key, "-subj", "/O=strait/CN=strait built-in CA", "-days", "3650"],
        ...["-addext", "basicConstraints=critical,CA:TRUE,pathlen:0"],
        ...["-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", crt],
      ]);
      const ca = await CertificateAuthority.loadOrCreate(TD, dir, new Date());
      expect(ca.rootDer.equals(new X509Certificate(readFileSync(crt)).raw)).toBe(true);
      const issuer = await startIssuerServer(
        { ca, nodeTokens: new Map([["token-b", "node-b"]]), mayIssue: () => true },
        { host: "127.0.0.1", port: 0 },
      );
      const provider = new BuiltinCaProvider({
        trustDomain: TD,
        url: issuer.url,
        nodeToken: "token-b",
        bootstrapRootDer: ca.rootDer,
      });
      try {
        provider.setIdentities(new Set([1001]));
        await until(() => provider.svidFor(1001) !== undefined);
        const v = validateX509Svid(provider.svidFor(1001)?.chainDer ?? [], provider.bundles(), {
          role: "client",
          now: new Date(),
        });
        expect(v.ok).toBe(true);
      } finally {
        await provider.stop();
        await issuer.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
