/**
 * The SVIDs of the node Envoy's encryption tunnel (model/encryption.ts), as
 * file-based SDS secrets in the folder the controller's configuration points
 * that Envoy to (`envoySvidDir(base, node)`):
 *  - `svid-<identity>.yaml`: one tls_certificate Secret (chain and key) per
 *    local identity the identity provider holds an SVID for, named
 *    `svidSecretName(trustDomain, identity)`;
 *  - `bundle.yaml`: one validation_context Secret with the trust domain's
 *    bundle roots, named `bundleSecretName(trustDomain)`.
 * Envoy reloads a whole file when it is renamed into its watched folder, so
 * every write is a new file then one rename (chain and key swap together).
 * A file is rewritten when the provider rotates its SVID or the bundle, and
 * removed when its identity leaves the node or loses its SVID (fail closed:
 * the tunnel then refuses that identity's flows). Files are 0600: they hold
 * private keys.
 */
import { mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { derToPem } from "../auth/certificate.ts";
import type { IdentityProvider } from "../auth/identity-provider.ts";
import { type Settings, stringSetting } from "../controller/config.ts";
import { sdsTlsCertificateFile } from "../envoy/bootstrap.ts";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { BUNDLE_FILE_NAME, bundleSecretName, svidFileName, svidSecretName } from "../model/encryption.ts";

const SVID_FILE = /^svid-(\d+)\.yaml$/;
const SECRET_TYPE = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";

/** The content of a file-based SDS file with one validation context secret (the trusted roots, PEM). */
export function sdsValidationContextFile(name: string, trustedCaPem: string): string {
  return `${JSON.stringify(
    {
      resources: [
        { "@type": SECRET_TYPE, name, validation_context: { trusted_ca: { inline_string: trustedCaPem } } },
      ],
    },
    null,
    2,
  )}\n`;
}

/** `--envoy-svid-dir`, checked: undefined without it; it needs an identity provider, whose SVIDs it writes. */
export function envoySvidBase(settings: Settings): string | undefined {
  const base = stringSetting(settings, "envoySvidDir");
  if (base !== undefined && (stringSetting(settings, "authProvider") ?? "none") === "none") {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      "--envoy-svid-dir needs an identity provider (--auth-provider builtin-ca, spire or cert-manager): the SVIDs come from it",
    );
  }
  return base;
}

export interface EnvoySvidFilesOptions {
  /** `envoySvidDir(base, node)`. */
  readonly dir: string;
  readonly provider: IdentityProvider;
  /** A file that could not be written or removed (the next change tries again). */
  readonly onError?: (error: unknown, file: string) => void;
}

export class EnvoySvidFiles {
  readonly dir: string;
  readonly #provider: IdentityProvider;
  readonly #onError: (error: unknown, file: string) => void;
  /** The local identities; undefined until the first desired state (files left by a previous agent stay until then). */
  #local: ReadonlySet<number> | undefined;
  /** File name → content last written, so an unchanged secret is not rewritten (Envoy would reload it). */
  readonly #written = new Map<string, string>();
  #unsubscribe: (() => void) | undefined;

  constructor(options: EnvoySvidFilesOptions) {
    this.dir = options.dir;
    this.#provider = options.provider;
    this.#onError = options.onError ?? (() => {});
  }

  /** Creates the folder, writes the bundle if there is one, and follows the provider's rotations. */
  start(): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    this.#unsubscribe = this.#provider.onRotate((what) => {
      if (what === "bundle") this.#writeBundle();
      else this.#syncIdentity(what);
    });
    this.#writeBundle();
  }

  /** The identities of this node's endpoints (each desired state): their files appear, others go. */
  setIdentities(identities: ReadonlySet<number>): void {
    this.#local = new Set(identities);
    for (const identity of this.#local) this.#syncIdentity(identity);
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (error) {
      this.#onError(error, this.dir);
      return;
    }
    for (const name of names) {
      const m = SVID_FILE.exec(name);
      if (m !== null && !this.#local.has(Number(m[1]))) this.#remove(name);
      else if (name.startsWith(".") && name.endsWith(".tmp")) this.#remove(name); // an interrupted write
    }
  }

  /** Stops following rotations. The files stay: the node's Envoy keeps its tunnel through an agent restart. */
  stop(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
  }

  #syncIdentity(identity: number): void {
    if (this.#local === undefined || !this.#local.has(identity)) return;
    const name = svidFileName(identity);
    const svid = this.#provider.svidFor(identity);
    if (svid === undefined) {
      this.#remove(name);
      return;
    }
    const chainPem = svid.chainDer.map((der) => derToPem(der)).join("");
    const trustDomain = this.#provider.trustDomain;
    this.#write(name, sdsTlsCertificateFile(svidSecretName(trustDomain, identity), chainPem, svid.keyPem));
  }

  #writeBundle(): void {
    const trustDomain = this.#provider.trustDomain;
    const bundle = this.#provider.bundles()?.get(trustDomain);
    // Before the first bundle there is nothing to trust: no file, and the tunnel refuses every peer.
    if (bundle === undefined || bundle.roots.length === 0) return;
    const pem = bundle.roots.map((r) => derToPem(r.der)).join("");
    this.#write(BUNDLE_FILE_NAME, sdsValidationContextFile(bundleSecretName(trustDomain), pem));
  }

  #write(name: string, content: string): void {
    if (this.#written.get(name) === content) return;
    const path = join(this.dir, name);
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`);
    try {
      writeFileSync(tmp, content, { mode: 0o600 });
      renameSync(tmp, path);
      this.#written.set(name, content);
    } catch (error) {
      rmSync(tmp, { force: true });
      this.#onError(error, path);
    }
  }

  #remove(name: string): void {
    const path = join(this.dir, name);
    try {
      rmSync(path, { force: true });
      this.#written.delete(name);
    } catch (error) {
      this.#onError(error, path);
    }
  }
}
