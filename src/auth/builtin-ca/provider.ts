/**
 * The built-in CA as the agent's identity provider: for each security
 * identity of this node's endpoints, a key made here and an X.509-SVID from
 * the controller's issuer (issuer-server.ts), renewed at half its lifetime
 * (SPIRE's rule) and retried with back-off when the issuer is unreachable.
 * An SVID that expires without renewal is dropped: fail closed.
 */
import { createPublicKey, webcrypto } from "node:crypto";
import type { Svid } from "../identity-provider.ts";
import { generateKeyPair, privateKeyPem } from "../issue.ts";
import { RenewingProvider, type RenewingProviderOptions } from "../renewing-provider.ts";
import { formatSpiffeId, identitySpiffeId, type TrustDomain } from "../spiffe-id.ts";
import { bundleSet, type TrustBundleSet, trustBundle } from "../trust-bundle.ts";
import { validateX509Svid } from "../x509-svid.ts";
import { chainOf, type IssuerEndpoint, postToIssuer } from "./issuer-client.ts";

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
  readonly #bundles: TrustBundleSet;
  readonly #issuer: IssuerEndpoint;

  constructor(options: BuiltinCaProviderOptions) {
    super(options.trustDomain, options);
    const b = trustBundle(options.trustDomain, [options.bootstrapRootDer]);
    if (!b.ok) throw new TypeError(b.error);
    this.#bundles = bundleSet(b.value);
    this.#issuer = {
      url: options.url,
      nodeToken: options.nodeToken,
      trustDomain: options.trustDomain,
      rootDer: options.bootstrapRootDer,
      bundles: this.#bundles,
      now: () => this.now(),
    };
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
    const chainDer = chainOf(await postToIssuer(this.#issuer, "/v1/svids", { identity, publicKey }));
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
}
