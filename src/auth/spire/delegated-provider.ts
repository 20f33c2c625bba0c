/**
 * SPIRE as the agent's identity provider, the way Cilium uses it: strait's
 * agent is an authorized delegate of the node's SPIRE agent and, over its
 * admin socket, subscribes to the Delegated Identity API
 * (`SubscribeToX509SVIDs` with the selector `strait:mutual-auth`, which the
 * controller's registration entries carry, and `SubscribeToX509Bundles`).
 * SPIRE rotates the SVIDs; every update replaces the set.
 *
 * When the SPIRE agent goes away, this provider drops its SVIDs and bundle
 * (SPIRE is the source of truth; an entry may have been deleted meanwhile):
 * new handshakes fail closed, auth entries already written hold until their
 * own expiry, and the streams are re-opened with back-off.
 */
import * as grpc from "@grpc/grpc-js";
import { messageOf } from "../../errors.ts";
import { derToPem, parseCertificate, splitDerSequence } from "../certificate.ts";
import { type IdentityProvider, RotationListeners, type Svid } from "../identity-provider.ts";
import { identityOfSpiffeId, parseSpiffeId, parseTrustDomain, type TrustDomain } from "../spiffe-id.ts";
import { type TrustBundle, type TrustBundleSet, trustBundle } from "../trust-bundle.ts";
import { spireServiceClient } from "./protos.ts";

/** The selector strait's registration entries carry (Cilium's is cilium:mutual-auth). */
export const STRAIT_SELECTOR = { type: "strait", value: "mutual-auth" } as const;

export interface SpireDelegatedProviderOptions {
  readonly trustDomain: TrustDomain;
  readonly socketPath: string;
  readonly now?: () => Date;
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  readonly logger?: { warn(o: object, m: string): void; info(o: object, m: string): void };
}

interface X509SvidWithKey {
  x509_svid?: { cert_chain?: Buffer[]; id?: { trust_domain?: string; path?: string }; expires_at?: number };
  x509_svid_key?: Buffer;
}

export class SpireDelegatedProvider implements IdentityProvider {
  readonly name = "spire";
  readonly trustDomain: TrustDomain;
  readonly #o: SpireDelegatedProviderOptions;
  readonly #now: () => Date;
  readonly #listeners = new RotationListeners();
  #svids = new Map<number, Svid>();
  #bundles: TrustBundleSet | undefined;
  #client: grpc.Client | undefined;
  #streams: grpc.ClientReadableStream<unknown>[] = [];
  #retry: NodeJS.Timeout | undefined;
  #failures = 0;
  #stopped = false;
  #healthy = false;

  constructor(options: SpireDelegatedProviderOptions) {
    this.#o = options;
    this.trustDomain = options.trustDomain;
    this.#now = options.now ?? (() => new Date());
  }

  async start(): Promise<void> {
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#close();
  }

  healthy(): boolean {
    return this.#healthy;
  }

  setIdentities(_identities: ReadonlySet<number>): void {
    // SPIRE hands out every identity's SVID under the selector; the controller's entries decide which.
  }

  bundles(): TrustBundleSet | undefined {
    return this.#bundles;
  }

  svidFor(identity: number): Svid | undefined {
    const s = this.#svids.get(identity);
    return s !== undefined && s.notAfter.getTime() > this.#now().getTime() ? s : undefined;
  }

  onRotate(listener: (what: number | "bundle") => void): () => void {
    return this.#listeners.add(listener);
  }

  #close(): void {
    for (const s of this.#streams) s.cancel();
    this.#streams = [];
    this.#client?.close();
    this.#client = undefined;
  }

  #connect(): void {
    if (this.#stopped) return;
    const Client = spireServiceClient("spire.api.agent.delegatedidentity.v1.DelegatedIdentity");
    const client = new Client(`unix:${this.#o.socketPath}`, grpc.credentials.createInsecure());
    this.#client = client;
    const methods = client as unknown as Record<string, (req: object) => grpc.ClientReadableStream<unknown>>;
    const svidStream = methods.SubscribeToX509SVIDs?.call(client, { selectors: [STRAIT_SELECTOR] });
    const bundleStream = methods.SubscribeToX509Bundles?.call(client, {});
    if (svidStream === undefined || bundleStream === undefined)
      throw new TypeError("DelegatedIdentity methods missing");
    this.#streams = [svidStream, bundleStream];
    svidStream.on("data", (m) => this.#onSvids(m as { x509_svids?: X509SvidWithKey[] }));
    bundleStream.on("data", (m) => this.#onBundles(m as { ca_certificates?: Record<string, Buffer> }));
    for (const s of this.#streams) {
      s.on("error", (e: Error) => this.#lost(e));
      s.on("end", () => this.#lost(new Error("stream ended")));
    }
  }

  #lost(error: Error): void {
    if (this.#stopped || this.#client === undefined) return;
    this.#close();
    this.#healthy = false;
    this.#failures++;
    const delay = Math.min(
      this.#o.retryMaxMs ?? 10_000,
      (this.#o.retryMinMs ?? 250) * 2 ** Math.min(this.#failures - 1, 8),
    );
    this.#o.logger?.warn(
      { error: messageOf(error), retryInMs: delay },
      "SPIRE agent unreachable: SVIDs dropped",
    );
    const had = [...this.#svids.keys()];
    this.#svids = new Map();
    this.#bundles = undefined;
    for (const id of had) this.#listeners.emit(id);
    this.#listeners.emit("bundle");
    this.#retry = setTimeout(() => this.#connect(), delay);
  }

  #onSvids(m: { x509_svids?: X509SvidWithKey[] }): void {
    this.#healthy = true;
    this.#failures = 0;
    const next = new Map<number, Svid>();
    for (const s of m.x509_svids ?? []) {
      const raw = s.x509_svid;
      const chain = raw?.cert_chain ?? [];
      const id = parseSpiffeId(`spiffe://${raw?.id?.trust_domain ?? ""}${raw?.id?.path ?? ""}`);
      if (!id.ok || chain.length === 0 || s.x509_svid_key === undefined) continue;
      const identity = identityOfSpiffeId(id.value, this.trustDomain);
      if (!identity.ok) continue; // another workload's SVID under the same selector: not ours
      const leaf = parseCertificate(chain[0] as Buffer);
      if (!leaf.ok) {
        this.#o.logger?.warn({ error: leaf.error }, "SPIRE sent an unreadable SVID; skipped");
        continue;
      }
      next.set(identity.value, {
        id: id.value,
        chainDer: chain,
        keyPem: derToPem(s.x509_svid_key, "PRIVATE KEY"),
        notBefore: leaf.value.notBefore,
        notAfter: leaf.value.notAfter,
      });
    }
    const previous = this.#svids;
    this.#svids = next;
    for (const [id, svid] of next) {
      if (!previous.get(id)?.chainDer[0]?.equals(svid.chainDer[0] as Buffer)) this.#listeners.emit(id);
    }
    for (const id of previous.keys()) if (!next.has(id)) this.#listeners.emit(id);
    this.#o.logger?.info({ identities: [...next.keys()] }, "SVIDs from SPIRE");
  }

  #onBundles(m: { ca_certificates?: Record<string, Buffer> }): void {
    const bundles = new Map<TrustDomain, TrustBundle>();
    for (const [name, der] of Object.entries(m.ca_certificates ?? {})) {
      // Keys are trust domain names, in some SPIRE versions as spiffe://<td>.
      const td = parseTrustDomain(name.replace(/^spiffe:\/\//, ""));
      const certs = splitDerSequence(der);
      if (!td.ok || !certs.ok) continue;
      const b = trustBundle(td.value, certs.value);
      if (b.ok) bundles.set(td.value, b.value);
    }
    this.#bundles = bundles;
    this.#listeners.emit("bundle");
  }
}
