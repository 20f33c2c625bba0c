/**
 * The built-in CA as the agent's identity provider: for each security
 * identity of this node's endpoints, a key made here and an X.509-SVID from
 * the controller's issuer (issuer-server.ts), renewed at half its lifetime
 * (SPIRE's rule) and retried with back-off when the issuer is unreachable.
 * An SVID that expires without renewal is dropped: fail closed.
 */
import { createPublicKey, webcrypto } from "node:crypto";
import { request } from "node:https";
import { derToPem } from "../certificate.ts";
import type { Svid } from "../identity-provider.ts";
import { generateKeyPair, privateKeyPem } from "../issue.ts";
import { RenewingProvider, type RenewingProviderOptions } from "../renewing-provider.ts";
import { formatSpiffeId, identitySpiffeId, type TrustDomain } from "../spiffe-id.ts";
import { bundleSet, type TrustBundleSet, trustBundle } from "../trust-bundle.ts";
import { validateX509Svid } from "../x509-svid.ts";
import { CONTROLLER_PATH } from "./issuer-server.ts";

export interface BuiltinCaProviderOptions extends RenewingProviderOptions {
  readonly trustDomain: TrustDomain;
  /** `https://host:port` of the controller's issuer. */
  readonly url: string;
  readonly nodeToken: string;
  /** The CA root, given out of band (DER). */
  readonly bootstrapRootDer: Buffer;
}

export class BuiltinCaProvider extends RenewingProvider {
  readonly name = "builtin-ca";
  readonly #o: BuiltinCaProviderOptions;
  readonly #bundles: TrustBundleSet;

  constructor(options: BuiltinCaProviderOptions) {
    super(options.trustDomain, options);
    this.#o = options;
    const b = trustBundle(options.trustDomain, [options.bootstrapRootDer]);
    if (!b.ok) throw new TypeError(b.error);
    this.#bundles = bundleSet(b.value);
  }

  bundles(): TrustBundleSet {
    return this.#bundles;
  }

  protected async fetchSvid(identity: number): Promise<Svid> {
    const keys = await generateKeyPair();
    const spki = Buffer.from(await webcrypto.subtle.exportKey("spki", keys.publicKey));
    const publicKey = createPublicKey({ key: spki, format: "der", type: "spki" }).export({
      type: "spki",
      format: "pem",
    }) as string;
    const body = (await this.#post("/v1/svids", { identity, publicKey })) as { chain?: unknown };
    if (!Array.isArray(body.chain) || !body.chain.every((c) => typeof c === "string")) {
      throw new Error("issuer answered without a chain");
    }
    const chainDer = (body.chain as string[]).map((c) => Buffer.from(c, "base64"));
    const expected = identitySpiffeId(this.trustDomain, identity);
    // What the issuer gave must itself be a valid SVID of the identity asked for.
    const v = validateX509Svid(chainDer, this.#bundles, {
      role: "client",
      now: this.now(),
      expectedId: expected,
    });
    if (!v.ok)
      throw new Error(`issuer gave an invalid SVID for ${formatSpiffeId(expected)}: ${v.error.message}`);
    return {
      id: expected,
      chainDer,
      keyPem: await privateKeyPem(keys.privateKey),
      notBefore: v.value.leaf.notBefore,
      notAfter: v.value.notAfter,
    };
  }

  #post(path: string, payload: unknown): Promise<unknown> {
    const url = new URL(path, this.#o.url);
    const data = JSON.stringify(payload);
    const root = derToPem(this.#o.bootstrapRootDer);
    const controller = { trustDomain: this.trustDomain, path: CONTROLLER_PATH };
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method: "POST",
          ca: root,
          minVersion: "TLSv1.3",
          timeout: 10_000,
          headers: {
            authorization: `Bearer ${this.#o.nodeToken}`,
            "content-type": "application/json",
            "content-length": Buffer.byteLength(data),
          },
          // The issuer is known by its SPIFFE ID, not a host name.
          checkServerIdentity: (_host, cert) => {
            const v = validateX509Svid([cert.raw], this.#bundles, {
              role: "server",
              now: this.now(),
              expectedId: controller,
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
}
