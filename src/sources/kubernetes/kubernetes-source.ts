/**
 * The cluster source: one reflector per kind of the catalogue (KINDS), all
 * feeding the one store. It reports its first full sync once every kind has
 * either been listed or answered 404 (not served: its CRD is not installed),
 * so a cluster without, say, the Cilium CRDs still becomes ready; such a kind
 * is retried slowly and its objects flow in like any other change once its CRD
 * appears. A kind whose list keeps failing otherwise (403, 5xx, unreachable
 * server) holds readiness back, since strait would serve config built on a
 * partial view.
 */
import type { Logger } from "pino";
import { KINDS, type KindInfo, type KindName } from "../../resources/kinds.ts";
import type { ResourceStore } from "../store.ts";
import type { KubeClient } from "./kube-client.ts";
import {
  DEFAULT_REFLECTOR_TIMING,
  Reflector,
  type ReflectorState,
  type ReflectorTiming,
} from "./reflector.ts";

export interface KubernetesSourceOptions {
  readonly client: KubeClient;
  readonly store: ResourceStore;
  readonly logger: Logger;
  /** The kinds to read (default: every kind of the catalogue). */
  readonly kinds?: readonly KindInfo[];
  readonly timing?: Partial<ReflectorTiming>;
  /** Called once, on the first full sync. */
  readonly onSynced?: () => void;
}

export class KubernetesSource {
  readonly #options: KubernetesSourceOptions;
  readonly #reflectors: Reflector[];
  #synced = false;

  constructor(options: KubernetesSourceOptions) {
    this.#options = options;
    const timing = { ...DEFAULT_REFLECTOR_TIMING, ...options.timing };
    this.#reflectors = (options.kinds ?? KINDS).map(
      (info) =>
        new Reflector(info, {
          client: options.client,
          store: options.store,
          logger: options.logger,
          timing,
          onState: () => this.#checkSynced(),
        }),
    );
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Each kind's state: pending (not listed yet), synced, or unserved. */
  states(): Partial<Record<KindName, ReflectorState>> {
    return Object.fromEntries(this.#reflectors.map((r) => [r.info.kind, r.state]));
  }

  /** The resourceVersion each kind's next watch resumes from. */
  resourceVersion(kind: KindName): string | undefined {
    return this.#reflectors.find((r) => r.info.kind === kind)?.resourceVersion;
  }

  start(): void {
    this.#options.logger.info(
      { server: this.#options.client.server, kinds: this.#reflectors.length },
      "listing and watching",
    );
    for (const r of this.#reflectors) r.start();
  }

  async stop(): Promise<void> {
    await Promise.all(this.#reflectors.map((r) => r.stop()));
  }

  #checkSynced(): void {
    if (this.#synced || this.#reflectors.some((r) => r.state === "pending")) return;
    this.#synced = true;
    const unserved = this.#reflectors.filter((r) => r.state === "unserved").map((r) => r.info.kind);
    this.#options.logger.info({ unserved }, "kubernetes source synced");
    this.#options.onSynced?.();
  }
}
