/**
 * The agent's SDS for its node's Envoy (`--envoy-sds-dir`): the SVIDs of
 * the node's identities and the trust bundle, as Envoy Secrets over delta
 * xDS on a unix socket only root can reach (`<dir>/<node>.sock`), which the
 * tunnel's listeners and clusters name (xds/translate/encryption.ts). Envoy
 * waits for a secret it asks for and takes a rotated one without a restart;
 * a secret that does not exist yet is simply not answered (the listener or
 * cluster waits, serves nothing), where a file-based secret would have Envoy
 * refuse the whole listener. The private keys never touch a disk.
 *
 *   spiffe://<td>/identity/<N>  tls_certificate: the SVID chain and its key
 *   spiffe://<td>               validation_context: the trust domain's roots
 */
import { mkdirSync } from "node:fs";
import type { Logger } from "pino";
import { derToPem } from "../auth/certificate.ts";
import type { IdentityProvider } from "../auth/identity-provider.ts";
import { type Settings, stringSetting } from "../controller/config.ts";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { bundleSecretName, envoySdsSocket, svidSecretName } from "../model/encryption.ts";
import { SnapshotCache } from "../xds/cache/index.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import { DEFAULT_LIMITS, XdsServer } from "../xds/server/index.ts";
import type { EnvoyResourceJson } from "../xds/translate/resource-set.ts";

/** `--envoy-sds-dir`, checked: the SVIDs come from an identity provider. */
export function envoySdsDir(settings: Settings): string | undefined {
  const dir = stringSetting(settings, "envoySdsDir");
  if (dir !== undefined && (stringSetting(settings, "authProvider") ?? "none") === "none") {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      "--envoy-sds-dir needs an identity provider (--auth-provider builtin-ca, spire or cert-manager): the SVIDs come from it",
    );
  }
  return dir;
}

export class EnvoySecretServer {
  readonly #provider: IdentityProvider;
  readonly #cache = new SnapshotCache();
  readonly #server: XdsServer;
  readonly #socket: string;
  readonly #logger: Logger;
  #unsubscribe: (() => void) | undefined;
  #identities: ReadonlySet<number> = new Set();
  #names: string[] = [];

  constructor(options: { provider: IdentityProvider; dir: string; node: string; logger: Logger }) {
    this.#provider = options.provider;
    this.#logger = options.logger.child({ component: "envoy-sds" });
    this.#socket = envoySdsSocket(options.dir, options.node);
    this.#server = new XdsServer({ cache: this.#cache, logger: this.#logger, limits: DEFAULT_LIMITS });
  }

  get socket(): string {
    return this.#socket;
  }

  async start(): Promise<void> {
    mkdirSync(this.#socket.slice(0, this.#socket.lastIndexOf("/")), { recursive: true, mode: 0o700 });
    await this.#server.listenPath(this.#socket);
    this.#unsubscribe = this.#provider.onRotate(() => this.#publish());
    this.#publish();
    this.#logger.info({ socket: this.#socket }, "Envoy SDS listening");
  }

  /** The node's identities (its endpoints'): the SVIDs served. */
  setIdentities(identities: ReadonlySet<number>): void {
    this.#identities = identities;
    this.#publish();
  }

  /** The secrets served now, by name (for status and tests). */
  secretNames(): string[] {
    return this.#names;
  }

  #publish(): void {
    const td = this.#provider.trustDomain;
    const secrets = new Map<string, EnvoyResourceJson>();
    const bundle = this.#provider.bundles()?.get(td);
    if (bundle !== undefined) {
      const name = bundleSecretName(td);
      secrets.set(name, {
        name,
        validation_context: {
          trusted_ca: { inline_string: bundle.roots.map((r) => derToPem(r.der)).join("") },
        },
      });
    }
    for (const identity of [...this.#identities].sort((a, b) => a - b)) {
      const svid = this.#provider.svidFor(identity);
      if (svid === undefined) continue;
      const name = svidSecretName(td, identity);
      secrets.set(name, {
        name,
        tls_certificate: {
          certificate_chain: { inline_string: svid.chainDer.map((d) => derToPem(d)).join("") },
          private_key: { inline_string: svid.keyPem },
        },
      });
    }
    this.#names = [...secrets.keys()];
    this.#cache.publish({ [TYPE_URLS.secret]: secrets });
  }

  async stop(): Promise<void> {
    this.#unsubscribe?.();
    await this.#server.close();
  }
}
