/**
 * cert-manager as the agent's identity provider: for each security identity
 * of this node's endpoints, a key made here, a PKCS#10 request whose only
 * name is the URI SAN `spiffe://<td>/identity/N`, and a cert-manager.io/v1
 * CertificateRequest for it in the agent's namespace, signed by the issuer
 * the cluster configures (`issuerRef`: a CA, Vault, or any other issuer that
 * keeps a URI SAN). The agent waits for the request's `Ready` condition,
 * validates the certificate it got as an X.509-SVID of exactly that identity
 * against the trust bundle given out of band (not the `ca` the response
 * carries: whoever answers must not choose what is trusted), then deletes the
 * request (it is one-shot). Renewal at half the lifetime and fail-closed
 * expiry come from RenewingProvider. A Denied or Failed request is a failure
 * like any other: retried with back-off, and no SVID meanwhile.
 */
import type { webcrypto } from "node:crypto";
import type { ICertificateRequest } from "@kubernetes-models/cert-manager/cert-manager.io/v1/CertificateRequest";
import type { KubeClient } from "../../sources/kubernetes/kube-client.ts";
import { pemBlocks } from "../certificate.ts";
import type { Svid } from "../identity-provider.ts";
import { generateKeyPair, privateKeyPem } from "../issue.ts";
import { RenewingProvider, type RenewingProviderOptions } from "../renewing-provider.ts";
import { formatSpiffeId, identitySpiffeId, type TrustDomain } from "../spiffe-id.ts";
import { bundleSet, type TrustBundleSet, trustBundle } from "../trust-bundle.ts";
import { x509 } from "../x509-lib.ts";
import { validateX509Svid } from "../x509-svid.ts";

export const CERTIFICATE_REQUESTS = "/apis/cert-manager.io/v1/namespaces";
export const NODE_LABEL = "strait.dev/node";
export const IDENTITY_LABEL = "strait.dev/identity";

export interface IssuerRef {
  readonly name: string;
  /** Issuer (default) or ClusterIssuer, or an external issuer's kind. */
  readonly kind: string;
  /** cert-manager.io (default) or an external issuer's group. */
  readonly group: string;
}

export interface CertManagerProviderOptions extends RenewingProviderOptions {
  readonly trustDomain: TrustDomain;
  readonly client: KubeClient;
  /** Where the CertificateRequests are made (the agent's namespace). */
  readonly namespace: string;
  readonly issuerRef: IssuerRef;
  /** This node's name, for the requests' labels. */
  readonly nodeName: string;
  /** The issuer's root(s), given out of band (DER). */
  readonly rootsDer: readonly Buffer[];
  /** Requested lifetime (default one hour). */
  readonly durationMs?: number;
  /** How often a pending request is looked at (default 500 ms). */
  readonly pollMs?: number;
  /** How long a request may stay pending before it counts as failed (default 60 s). */
  readonly readyTimeoutMs?: number;
}

type Condition = {
  readonly type?: string;
  readonly status?: string;
  readonly reason?: string;
  readonly message?: string;
};

/** `1h0m0s`-style Go duration, as cert-manager writes them. */
function goDuration(ms: number): string {
  const s = Math.max(1, Math.round(ms / 1000));
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m${s % 60}s`;
}

export class CertManagerProvider extends RenewingProvider {
  readonly name = "cert-manager";
  readonly #o: CertManagerProviderOptions;
  readonly #bundles: TrustBundleSet;

  constructor(options: CertManagerProviderOptions) {
    super(options.trustDomain, options);
    this.#o = options;
    const b = trustBundle(options.trustDomain, [...options.rootsDer]);
    if (!b.ok) throw new TypeError(b.error);
    this.#bundles = bundleSet(b.value);
  }

  bundles(): TrustBundleSet {
    return this.#bundles;
  }

  protected async fetchSvid(identity: number): Promise<Svid> {
    const id = identitySpiffeId(this.trustDomain, identity);
    const keys = await generateKeyPair();
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: "O=strait",
      keys: keys as unknown as webcrypto.CryptoKeyPair,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: formatSpiffeId(id) }])],
    });
    const name = await this.#create(identity, csr.toString("pem"));
    try {
      const chainDer = await this.#waitReady(name);
      const v = validateX509Svid(chainDer, this.#bundles, {
        role: "client",
        now: this.now(),
        expectedId: id,
      });
      if (!v.ok)
        throw new Error(`cert-manager gave an invalid SVID for ${formatSpiffeId(id)}: ${v.error.message}`);
      return {
        id,
        chainDer,
        keyPem: await privateKeyPem(keys.privateKey),
        notBefore: v.value.leaf.notBefore,
        notAfter: v.value.notAfter,
      };
    } finally {
      // One-shot: done either way. A request that cannot be deleted now is left to cert-manager's clean-up.
      await this.#o.client.request("DELETE", this.#path(name)).catch(() => undefined);
    }
  }

  #path(name?: string): string {
    const base = `${CERTIFICATE_REQUESTS}/${encodeURIComponent(this.#o.namespace)}/certificaterequests`;
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  async #create(identity: number, csrPem: string): Promise<string> {
    const { issuerRef, nodeName } = this.#o;
    const body: ICertificateRequest = {
      apiVersion: "cert-manager.io/v1",
      kind: "CertificateRequest",
      metadata: {
        generateName: `strait-${identity}-`,
        labels: { [NODE_LABEL]: nodeName, [IDENTITY_LABEL]: String(identity) },
      },
      spec: {
        request: Buffer.from(csrPem).toString("base64"),
        issuerRef: { name: issuerRef.name, kind: issuerRef.kind, group: issuerRef.group },
        duration: goDuration(this.#o.durationMs ?? 3600_000),
        usages: ["digital signature", "key encipherment", "client auth", "server auth"],
      },
    };
    const res = await this.#o.client.request("POST", this.#path(), { body });
    if (!res.ok) throw new Error(`cannot create a CertificateRequest: ${res.status} ${res.message}`);
    const created = (res.body as { metadata?: { name?: unknown } } | undefined)?.metadata?.name;
    if (typeof created !== "string") throw new Error("the API server answered without the request's name");
    return created;
  }

  async #waitReady(name: string): Promise<Buffer[]> {
    const deadline = Date.now() + (this.#o.readyTimeoutMs ?? 60_000);
    for (;;) {
      const res = await this.#o.client.request("GET", this.#path(name));
      if (!res.ok) throw new Error(`CertificateRequest ${name}: ${res.status} ${res.message}`);
      const status = (res.body as ICertificateRequest).status;
      const conditions = (status?.conditions ?? []) as readonly Condition[];
      const denied = conditions.find((c) => c.type === "Denied" && c.status === "True");
      if (denied !== undefined)
        throw new Error(`CertificateRequest ${name} denied: ${denied.message ?? denied.reason}`);
      const ready = conditions.find((c) => c.type === "Ready");
      if (ready?.status === "False" && ready.reason === "Failed") {
        throw new Error(`CertificateRequest ${name} failed: ${ready.message ?? ""}`);
      }
      if (ready?.status === "True" && typeof status?.certificate === "string" && status.certificate !== "") {
        const chain = pemBlocks(Buffer.from(status.certificate, "base64").toString("utf8"));
        if (chain.length === 0) throw new Error(`CertificateRequest ${name}: the certificate is not PEM`);
        return chain;
      }
      if (Date.now() > deadline) throw new Error(`CertificateRequest ${name} not ready in time`);
      await new Promise((r) => setTimeout(r, this.#o.pollMs ?? 500));
    }
  }
}
