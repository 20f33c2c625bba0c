/**
 * The agent's side of the issuer's HTTPS API (issuer-server.ts): one POST,
 * authenticated with the node token, to a server known by its SPIFFE ID
 * (`spiffe://<td>/strait-controller`) under the bootstrap root, not by a
 * host name.
 */
import { request } from "node:https";
import { derToPem } from "../certificate.ts";
import type { TrustDomain } from "../spiffe-id.ts";
import type { TrustBundleSet } from "../trust-bundle.ts";
import { validateX509Svid } from "../x509-svid.ts";
import { controllerId } from "./names.ts";

export interface IssuerEndpoint {
  /** `https://host:port` of the controller's issuer. */
  readonly url: string;
  readonly nodeToken: string;
  readonly trustDomain: TrustDomain;
  /** The CA root, given out of band (DER). */
  readonly rootDer: Buffer;
  readonly bundles: TrustBundleSet;
  readonly now: () => Date;
}

/** POSTs `payload` as JSON to `path`; resolves with the JSON answer of a 200, rejects otherwise. */
export function postToIssuer(issuer: IssuerEndpoint, path: string, payload: unknown): Promise<unknown> {
  const url = new URL(path, issuer.url);
  const data = JSON.stringify(payload);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: "POST",
        ca: derToPem(issuer.rootDer),
        minVersion: "TLSv1.3",
        timeout: 10_000,
        headers: {
          authorization: `Bearer ${issuer.nodeToken}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(data),
        },
        checkServerIdentity: (_host, cert) => {
          const v = validateX509Svid([cert.raw], issuer.bundles, {
            role: "server",
            now: issuer.now(),
            expectedId: controllerId(issuer.trustDomain),
          });
          return v.ok ? undefined : new Error(`issuer is not the controller: ${v.error.message}`);
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          if (res.statusCode !== 200) {
            reject(new Error(`issuer answered ${res.statusCode}: ${text}`));
            return;
          }
          try {
            resolve(JSON.parse(text));
          } catch {
            reject(new Error("issuer answered with something that is not JSON"));
          }
        });
      },
    );
    req.on("timeout", () => req.destroy(new Error("issuer did not answer in time")));
    req.on("error", reject);
    req.end(data);
  });
}

/** The `chain` of an issuer's answer, as DER certificates. */
export function chainOf(body: unknown): Buffer[] {
  const chain = (body as { chain?: unknown } | null)?.chain;
  if (!Array.isArray(chain) || chain.length === 0 || !chain.every((c) => typeof c === "string")) {
    throw new Error("issuer answered without a chain");
  }
  return (chain as string[]).map((c) => Buffer.from(c, "base64"));
}
