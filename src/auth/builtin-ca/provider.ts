/**
 * The built-in CA as the agent's identity provider: for each security
 * identity of this node's endpoints, a key made here and an X.509-SVID from
 * the controller's issuer (issuer-server.ts), renewed at half its lifetime
 * (SPIRE's rule) and retried with back-off when the issuer is unreachable.
 * An SVID that expires without renewal is dropped: fail closed.
 */
import { createPublicKey, webcrypto } from "node:crypto";
import { request } from "node:https";
import { messageOf } from "../../errors.ts";
import { derToPem } from "../certificate.ts";
import { type IdentityProvider, RotationListeners, type Svid } from "../identity-provider.ts";
import { generateKeyPair, privateKeyPem } from "../issue.ts";
import { formatSpiffeId, identitySpiffeId, type TrustDomain } from "../spiffe-id.ts";
import { bundleSet, type TrustBundleSet, trustBundle } from "../trust-bundle.ts";
import { validateX509Svid } from "../x509-svid.ts";
import { CONTROLLER_PATH } from "./issuer-server.ts";

export interface BuiltinCaProviderOptions {
  readonly trustDomain: TrustDomain;
  /** `https://host:port` of the controller's issuer. */
  readonly url: string;
  readonly nodeToken: string;
  /** The CA root, given out of band (DER). */
  readonly bootstrapRootDer: Buffer;
  readonly now?: () => Date;
  readonly logger?: { warn(o: object, m: string): void; info(o: object, m: string): void };
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
}

interface Held {
  svid?: Svid;
  timer?: NodeJS.Timeout;
  failures: number;
}

export class BuiltinCaProvider implements IdentityProvider {
  readonly name = "builtin-ca";
  readonly trustDomain: TrustDomain;
  readonly #o: BuiltinCaProviderOptions;
  readonly #now: () => Date;
  readonly #held = new Map<number, Held>();
  readonly #listeners = new RotationListeners();
  readonly #bundles: TrustBundleSet;
  #healthy = false;
  #stopped = false;

  constructor(options: BuiltinCaProviderOptions) {
    this.#o = options;
    this.trustDomain = options.trustDomain;
    this.#now = options.now ?? (() => new Date());
    const b = trustBundle(options.trustDomain, [options.bootstrapRootDer]);
    if (!b.ok) throw new TypeError(b.error);
    this.#bundles = bundleSet(b.value);
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const h of this.#held.values()) clearTimeout(h.timer);
    this.#held.clear();
  }

  healthy(): boolean {
    return this.#healthy;
  }

  bundles(): TrustBundleSet {
    return this.#bundles;
  }

  svidFor(identity: number): Svid | undefined {
    const svid = this.#held.get(identity)?.svid;
    return svid !== undefined && svid.notAfter.getTime() > this.#now().getTime() ? svid : undefined;
  }

  onRotate(listener: (what: number | "bundle") => void): () => void {
    return this.#listeners.add(listener);
  }

  setIdentities(identities: ReadonlySet<number>): void {
    for (const [id, h] of this.#held) {
      if (identities.has(id)) continue;
      clearTimeout(h.timer);
      this.#held.delete(id);
      this.#listeners.emit(id);
    }
    for (const id of identities) {
      if (this.#held.has(id)) continue;
      const h: Held = { failures: 0 };
      this.#held.set(id, h);
      void this.#renew(id, h);
    }
  }

  /** Fetches a fresh SVID now (tests, and the rotation timer). */
  async renewNow(identity: number): Promise<boolean> {
    const h = this.#held.get(identity);
    return h === undefined ? false : this.#renew(identity, h);
  }

  async #renew(identity: number, h: Held): Promise<boolean> {
    clearTimeout(h.timer);
    let svid: Svid;
    try {
      svid = await this.#fetch(identity);
    } catch (error) {
      this.#healthy = false;
      h.failures++;
      const min = this.#o.retryMinMs ?? 500;
      const delay = Math.min(this.#o.retryMaxMs ?? 30_000, min * 2 ** Math.min(h.failures - 1, 10));
      this.#o.logger?.warn({ identity, error: messageOf(error), retryInMs: delay }, "SVID not issued");
      // An expired SVID is dropped even while the issuer is away.
      if (h.svid !== undefined && h.svid.notAfter.getTime() <= this.#now().getTime()) {
        delete h.svid;
        this.#listeners.emit(identity);
      }
      if (!this.#stopped && this.#held.get(identity) === h)
        h.timer = setTimeout(() => void this.#renew(identity, h), delay);
      return false;
    }
    if (this.#stopped || this.#held.get(identity) !== h) return false;
    this.#healthy = true;
    h.failures = 0;
    h.svid = svid;
    // Half of the lifetime left when it arrived (notBefore is back-dated for clock skew).
    const now = this.#now().getTime();
    const renewAt = now + (svid.notAfter.getTime() - now) / 2;
    h.timer = setTimeout(
      () => void this.#renew(identity, h),
      Math.max(1000, renewAt - this.#now().getTime()),
    );
    this.#o.logger?.info({ identity, notAfter: svid.notAfter.toISOString() }, "SVID issued");
    this.#listeners.emit(identity);
    return true;
  }

  async #fetch(identity: number): Promise<Svid> {
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
      now: this.#now(),
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
              now: this.#now(),
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
