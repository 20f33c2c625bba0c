/**
 * The cert-manager identity provider against the wire-level test API server.
 * cert-manager itself (a Go controller) does not run here; its part is played
 * by a stand-in that does what cert-manager's CA issuer does on the wire:
 * it sees the CertificateRequest, signs its PKCS#10 request with a real CA
 * (strait's built-in one), and writes the request's status (`Approved`,
 * `Ready`, `certificate`, `ca`), or denies it.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { KubeApiServer } from "../../../test/support/kube-apiserver/server.ts";
import type { ApiObject } from "../../../test/support/kube-apiserver/storage.ts";
import { waitFor } from "../../../test/support/wait.ts";
import { KubeClient, loadKubeConfig } from "../../sources/kubernetes/kube-client.ts";
import { CertificateAuthority } from "../builtin-ca/authority.ts";
import { derToPem } from "../certificate.ts";
import {
  formatSpiffeId,
  identitySpiffeId,
  parseSpiffeId,
  parseTrustDomain,
  type TrustDomain,
} from "../spiffe-id.ts";
import { x509 } from "../x509-lib.ts";
import { CertManagerProvider } from "./provider.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const waitLong = (condition: () => boolean, what: string) => waitFor(condition, what, 20_000);

function td(text: string): TrustDomain {
  const r = parseTrustDomain(text);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}
const TD = td("strait.local");

/** The names of a PKCS#10 request's subjectAltName extension, as [type, value]. */
function sanNames(csr: x509.Pkcs10CertificateRequest): [string, string][] {
  const ext = csr.extensions.find((e) => e.type === "2.5.29.17");
  if (ext === undefined) return [];
  return new x509.SubjectAlternativeNameExtension(ext.rawData).names.items.map((n) => [n.type, n.value]);
}

type Mode = "issue" | "deny" | "other-identity" | "hold";

/** What cert-manager's CA issuer does with a CertificateRequest, on the wire. */
class CertManagerStandIn {
  mode: Mode = "issue";
  readonly seen: ApiObject[] = [];
  readonly #server: KubeApiServer;
  readonly #ca: CertificateAuthority;
  readonly #unsubscribe: () => void;

  constructor(server: KubeApiServer, ca: CertificateAuthority) {
    this.#server = server;
    this.#ca = ca;
    this.#unsubscribe = server.storage.subscribe((event) => {
      if (event.type !== "ADDED" || event.resource.kind !== "CertificateRequest") return;
      this.seen.push(event.object);
      void this.#answer(event.object);
    });
  }

  stop(): void {
    this.#unsubscribe();
  }

  async #answer(obj: ApiObject): Promise<void> {
    const { namespace, name } = obj.metadata;
    const spec = obj.spec as { request: string; duration?: string };
    const now = new Date().toISOString();
    if (this.mode === "hold") return;
    if (this.mode === "deny") {
      this.#server.setStatus("CertificateRequest", namespace, name, {
        conditions: [
          {
            type: "Denied",
            status: "True",
            reason: "PolicyDenied",
            message: "not allowed here",
            lastTransitionTime: now,
          },
          { type: "Ready", status: "False", reason: "Denied", message: "denied", lastTransitionTime: now },
        ],
      });
      return;
    }
    const csr = new x509.Pkcs10CertificateRequest(Buffer.from(spec.request, "base64").toString("utf8"));
    const uri = sanNames(csr).find(([type]) => type === "url")?.[1] ?? "";
    const parsed = parseSpiffeId(uri);
    if (!parsed.ok) throw new Error(parsed.error);
    const id = this.mode === "other-identity" ? identitySpiffeId(TD, 4242) : parsed.value;
    const m = /^(\d+)h(\d+)m(\d+)s$/.exec(spec.duration ?? "1h0m0s");
    const ttl = m === null ? 3600_000 : (Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3])) * 1000;
    const publicKey = csr.publicKey.toString("pem");
    const issued = await this.#ca.issue(id, publicKey, new Date(), ttl);
    if (!issued.ok) throw new Error(issued.error);
    this.#server.setStatus("CertificateRequest", namespace, name, {
      conditions: [
        {
          type: "Approved",
          status: "True",
          reason: "cert-manager.io",
          message: "approved",
          lastTransitionTime: now,
        },
        { type: "Ready", status: "True", reason: "Issued", message: "issued", lastTransitionTime: now },
      ],
      certificate: Buffer.from(derToPem(issued.value)).toString("base64"),
      ca: Buffer.from(derToPem(this.#ca.rootDer)).toString("base64"),
    });
  }
}

async function setUp(durationMs = 3600_000) {
  const server = await KubeApiServer.start();
  cleanups.push(() => server.close());
  const dir = mkdtempSync(join(tmpdir(), "strait-cm-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate(TD, dir, new Date());
  const standIn = new CertManagerStandIn(server, ca);
  cleanups.push(() => standIn.stop());
  const provider = new CertManagerProvider({
    trustDomain: TD,
    client: new KubeClient(loadKubeConfig(server.kubeconfig).config),
    namespace: "strait-system",
    issuerRef: { name: "strait-ca", kind: "ClusterIssuer", group: "cert-manager.io" },
    nodeName: "node-1",
    rootsDer: [ca.rootDer],
    durationMs,
    pollMs: 20,
    retryMinMs: 50,
    retryMaxMs: 200,
  });
  cleanups.push(() => provider.stop());
  return { server, standIn, provider };
}

const requests = (server: KubeApiServer, method: string) =>
  server.requestsFor("certificaterequests").filter((r) => r.method === method);

describe("the cert-manager identity provider", () => {
  it("gets an SVID through a CertificateRequest whose only name is the identity's URI SAN, then deletes the request", async () => {
    const { server, standIn, provider } = await setUp();
    provider.setIdentities(new Set([1001]));
    await waitLong(() => provider.svidFor(1001) !== undefined, "the SVID");
    const svid = provider.svidFor(1001);
    expect(svid === undefined ? "" : formatSpiffeId(svid.id)).toBe("spiffe://strait.local/identity/1001");
    expect(provider.healthy()).toBe(true);

    const cr = standIn.seen[0];
    expect(cr?.metadata).toMatchObject({
      namespace: "strait-system",
      labels: { "strait.dev/node": "node-1", "strait.dev/identity": "1001" },
    });
    expect(String(cr?.metadata.name)).toMatch(/^strait-1001-[a-z0-9]{5}$/);
    expect(cr?.spec).toMatchObject({
      issuerRef: { name: "strait-ca", kind: "ClusterIssuer", group: "cert-manager.io" },
      duration: "1h0m0s",
      usages: ["digital signature", "key encipherment", "client auth", "server auth"],
    });
    const request = Buffer.from(
      (cr?.spec as { request?: string } | undefined)?.request ?? "",
      "base64",
    ).toString();
    const csr = new x509.Pkcs10CertificateRequest(request);
    expect(await csr.verify()).toBe(true);
    expect(sanNames(csr)).toEqual([["url", "spiffe://strait.local/identity/1001"]]);
    // The private key never left: the request carries only the public key.
    expect(request).not.toMatch(/PRIVATE/);

    await waitLong(() => requests(server, "DELETE").length === 1, "the request deleted");
    expect(requests(server, "DELETE")[0]?.path).toBe(
      `/apis/cert-manager.io/v1/namespaces/strait-system/certificaterequests/${cr?.metadata.name}`,
    );
  });

  it("fails closed while requests are denied, and gets the SVID once they are issued", async () => {
    const { server, standIn, provider } = await setUp();
    standIn.mode = "deny";
    provider.setIdentities(new Set([1001]));
    await waitLong(() => standIn.seen.length >= 2, "a retry after the denial");
    expect(provider.svidFor(1001)).toBeUndefined();
    expect(provider.healthy()).toBe(false);
    // Denied requests are cleaned up too.
    await waitLong(() => requests(server, "DELETE").length >= 2, "denied requests deleted");
    standIn.mode = "issue";
    await waitLong(() => provider.svidFor(1001) !== undefined, "the SVID after approval");
  });

  it("refuses a certificate that names another identity: no SVID", async () => {
    const { standIn, provider } = await setUp();
    standIn.mode = "other-identity";
    provider.setIdentities(new Set([1001]));
    await waitLong(() => standIn.seen.length >= 2, "a retry after the bad certificate");
    expect(provider.svidFor(1001)).toBeUndefined();
  });

  it("renews at half the lifetime with a new request and a new key", async () => {
    const { standIn, provider } = await setUp(4_000);
    const rotated: (number | "bundle")[] = [];
    provider.onRotate((what) => rotated.push(what));
    provider.setIdentities(new Set([1001]));
    await waitLong(() => provider.svidFor(1001) !== undefined, "the first SVID");
    const first = provider.svidFor(1001);
    await waitLong(() => provider.svidFor(1001)?.keyPem !== first?.keyPem, "the renewed SVID");
    expect(standIn.seen.length).toBeGreaterThanOrEqual(2);
    expect(standIn.seen[0]?.spec).toMatchObject({ duration: "0h0m4s" });
    expect(rotated.filter((r) => r === 1001).length).toBeGreaterThanOrEqual(2);
  });

  it("has no SVID while its request is pending (fail closed)", async () => {
    const { standIn, provider } = await setUp();
    standIn.mode = "hold";
    provider.setIdentities(new Set([1001]));
    await waitLong(() => standIn.seen.length === 1, "the request");
    expect(provider.svidFor(1001)).toBeUndefined();
  });
});

describe("--cert-manager-issuer", () => {
  it("takes KIND/NAME and KIND.GROUP/NAME, and refuses anything else with the flag's name", async () => {
    const { parseIssuerRef } = await import("../agent-auth.ts");
    expect(parseIssuerRef("ClusterIssuer/strait-ca")).toEqual({
      kind: "ClusterIssuer",
      group: "cert-manager.io",
      name: "strait-ca",
    });
    expect(parseIssuerRef("AWSPCAClusterIssuer.awspca.cert-manager.io/pca")).toEqual({
      kind: "AWSPCAClusterIssuer",
      group: "awspca.cert-manager.io",
      name: "pca",
    });
    for (const bad of ["strait-ca", "ClusterIssuer/", "/x", "ClusterIssuer/Bad_Name", "a/b/c"]) {
      expect(() => parseIssuerRef(bad), bad).toThrow(/--cert-manager-issuer must be KIND\/NAME/);
    }
  });
});
