/**
 * Records the security identities in the API, as Cilium's operator and
 * agents do with CiliumIdentity objects: while this replica leads, the cluster
 * holds one CiliumIdentity per workload identity of the latest pass (in use,
 * or unused within the grace period, marked with the time it became unused),
 * and the ones strait wrote that the pass no longer keeps are deleted (the
 * garbage collection). Every replica reads them back through the store, so
 * followers and a restarted leader number every label set as it was recorded.
 *
 * - Writes are server-side applies (field manager `strait`, forced), made only
 *   when the live object does not already hold what the pass wants; an apply
 *   that no longer carries the unused mark removes it (strait owned it).
 * - Deletes carry the uid and resourceVersion of the store's copy as
 *   preconditions: an identity that changed meanwhile (a pod came back and the
 *   mark was removed) is not deleted.
 * - A CiliumIdentity strait did not write (no strait annotation) is read but
 *   never changed or deleted.
 * - Nothing is written before the CiliumIdentity kind has been listed: the
 *   pass would not yet know the recorded numbers. If the CRD is not installed
 *   (the kind is unserved), identities are not recorded, which is logged once;
 *   they are still allocated deterministically (see src/policy/identities.ts).
 *
 * Failures are logged and retried after a back-off, and with every new pass.
 */
import type { Logger } from "pino";
import {
  type CiliumIdentityObject,
  IDENTITY_UNUSED_SINCE_ANNOTATION,
  isStraitIdentity,
} from "../../policy/index.ts";
import { type KindName, kindInfo } from "../../resources/kinds.ts";
import { canonicalJson } from "../status/merge-patch.ts";
import type { ResourceStore } from "../store.ts";
import type { BackoffOptions } from "./backoff.ts";
import type { KubeClient } from "./kube-client.ts";
import { deleteIfUnchanged, serverSideApply } from "./object-requests.ts";
import { holds } from "./owned-object.ts";
import type { ReflectorState } from "./reflector.ts";
import { resourcePath } from "./resource-path.ts";
import { type WriteOutcome, WriteRunner, type WriteTask } from "./write-runner.ts";

export interface IdentityWriterOptions {
  readonly client: KubeClient;
  readonly store: ResourceStore;
  readonly isLeader: () => boolean;
  /** The CiliumIdentity reflector's state: writes wait for "synced". */
  readonly state: () => ReflectorState | undefined;
  readonly logger: Logger;
  readonly retry?: BackoffOptions;
  readonly concurrency?: number;
}

interface LiveIdentity {
  readonly metadata: {
    readonly name: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly annotations?: Record<string, string>;
  };
  readonly "security-labels"?: Record<string, string>;
}

interface Applied {
  readonly desired: string;
  readonly resultVersion: string | undefined;
}

/** The kind this writer creates, applies and deletes (the chart grants exactly that). */
export const IDENTITY_KIND = "CiliumIdentity" satisfies KindName;
const INFO = kindInfo(IDENTITY_KIND);

export class IdentityWriter {
  readonly #options: IdentityWriterOptions;
  readonly #runner: WriteRunner;
  readonly #unsubscribe: () => void;
  readonly #applied = new Map<string, Applied>();
  readonly #deleted = new Map<string, string>();
  #latest: readonly CiliumIdentityObject[] | undefined;
  #warnedUnserved = false;
  readonly #foreign = new Set<string>();

  constructor(options: IdentityWriterOptions) {
    this.#options = options;
    this.#runner = new WriteRunner(() => this.#plan(), {
      logger: options.logger,
      what: "identities",
      concurrency: options.concurrency ?? 4,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
    });
    this.#unsubscribe = options.store.subscribe((change) => {
      if (change.type !== "delete" || change.key.kind !== "CiliumIdentity") return;
      this.#applied.delete(change.key.name);
      this.#deleted.delete(change.key.name);
    });
  }

  /** Records the identities of a pass and writes what differs; resolves with the number of writes. */
  write(objects: readonly CiliumIdentityObject[]): Promise<number> {
    this.#latest = objects;
    return this.flush();
  }

  /** Forgets what was applied and checks everything again: on becoming leader. */
  resync(): Promise<number> {
    this.#applied.clear();
    return this.flush();
  }

  flush(): Promise<number> {
    return this.#runner.flush();
  }

  stop(): void {
    this.#runner.stop();
    this.#unsubscribe();
  }

  #plan(): WriteTask[] {
    const objects = this.#latest;
    if (!this.#options.isLeader() || objects === undefined) return [];
    const state = this.#options.state();
    if (state === "unserved" && !this.#warnedUnserved) {
      this.#warnedUnserved = true;
      this.#options.logger.warn(
        "the CiliumIdentity CRD is not installed: security identities are not recorded in the API (install charts/strait/crds); numbers may differ between replicas after a hash collision",
      );
    }
    if (state !== "synced") return [];
    this.#warnedUnserved = false;
    const { store } = this.#options;
    const tasks: WriteTask[] = [];
    const wanted = new Set<string>();
    for (const obj of objects) {
      const name = obj.metadata.name;
      wanted.add(name);
      const live = store.get("CiliumIdentity", "", name) as LiveIdentity | undefined;
      if (live !== undefined && !isStraitIdentity(live.metadata.annotations)) {
        this.#noteForeign(name);
        continue;
      }
      const desired = canonicalJson(obj);
      if (this.#upToDate(name, desired, obj, live)) continue;
      tasks.push(() => this.#apply(name, obj, desired));
    }
    for (const live of store.list("CiliumIdentity") as readonly LiveIdentity[]) {
      const name = live.metadata.name;
      if (wanted.has(name) || !isStraitIdentity(live.metadata.annotations)) continue;
      if (this.#deleted.get(name) === (live.metadata.uid ?? "")) continue;
      tasks.push(() => this.#delete(live));
    }
    return tasks;
  }

  #upToDate(
    name: string,
    desired: string,
    obj: CiliumIdentityObject,
    live: LiveIdentity | undefined,
  ): boolean {
    const last = this.#applied.get(name);
    if (live === undefined) return last?.desired === desired; // created; the watch has not brought it yet
    if (last?.desired === desired && live.metadata.resourceVersion === last.resultVersion) return true;
    // The unused mark is the one field an apply removes; everything else the live object must hold.
    const unused = IDENTITY_UNUSED_SINCE_ANNOTATION;
    const markDiffers =
      (live.metadata.annotations?.[unused] ?? "") !== (obj.metadata.annotations[unused] ?? "");
    return !markDiffers && holds(live, obj);
  }

  async #apply(name: string, body: CiliumIdentityObject, desired: string): Promise<WriteOutcome> {
    if (this.#runner.stopped || !this.#options.isLeader()) return "skipped";
    const res = await serverSideApply(this.#options.client, resourcePath(INFO, { name }), body);
    if (!res.ok) {
      this.#options.logger.warn(
        { identity: name, status: res.status, err: res.message },
        "CiliumIdentity not applied; retrying",
      );
      return "failed";
    }
    const meta = (res.body as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata;
    this.#applied.set(name, {
      desired,
      resultVersion: typeof meta?.resourceVersion === "string" ? meta.resourceVersion : undefined,
    });
    if (res.status === 201) this.#options.logger.info({ identity: name }, "CiliumIdentity created");
    return "written";
  }

  async #delete(live: LiveIdentity): Promise<WriteOutcome> {
    if (this.#runner.stopped || !this.#options.isLeader()) return "skipped";
    const { name, uid, resourceVersion } = live.metadata;
    const res = await deleteIfUnchanged(this.#options.client, resourcePath(INFO, { name }), {
      uid,
      resourceVersion,
    });
    if (res.ok || res.status === 404) {
      this.#deleted.set(name, uid ?? "");
      this.#applied.delete(name);
      this.#options.logger.info({ identity: name }, "CiliumIdentity deleted: unused for the grace period");
      return "written";
    }
    this.#options.logger.info(
      { identity: name, status: res.status, err: res.message },
      res.status === 409
        ? "CiliumIdentity not deleted: it changed meanwhile; checking again"
        : "CiliumIdentity not deleted; retrying",
    );
    return "failed";
  }

  #noteForeign(name: string): void {
    if (this.#foreign.has(name)) return;
    this.#foreign.add(name);
    this.#options.logger.info(
      { identity: name },
      "CiliumIdentity not written by strait: its number and labels are used, the object is left alone",
    );
  }
}
