/**
 * Writes the objects strait owns (the per-Gateway Services) so that, while
 * this replica leads, the cluster holds exactly those of the latest pass:
 *
 * - each is written with server-side apply (field manager `strait`, forced:
 *   strait is the one authority over the fields it applies), and only when it
 *   differs from what this replica applied last or from what the store shows
 *   of it; a new leader applies each once, since it cannot know what the
 *   previous one applied (the apply is a no-op on the server when nothing
 *   changed);
 * - objects strait manages (its managed-by and Gateway name labels) that the
 *   pass no longer wants are deleted, with the uid and resourceVersion the
 *   store shows as preconditions, so an object that changed hands meanwhile is
 *   not deleted. The garbage collector would delete the Service of a deleted
 *   Gateway through the owner reference, but not the Service of a Gateway that
 *   merely stopped being strait's (its class changed). Nothing is deleted
 *   before the first pass (an empty list of wanted objects would mean "delete
 *   them all"), nor while `canDelete` says the owners cannot be seen (the
 *   Gateway kind not served: a Gateway that is gone and one strait cannot see
 *   look the same; if the CRD was removed, its Gateways went with it and the
 *   garbage collector deletes their Services);
 * - an object of the same name that strait does not manage is never touched:
 *   the Gateway goes without its Service, which is logged as a warning and
 *   counted (`blocked`, the `strait_owned_object_conflicts` gauge).
 *
 *   The Gateway's status does not say so. Statuses come from the pure gateway
 *   stage, and this writer runs after it on its output; making the outcome of
 *   the write a condition would mean feeding the cluster's state back into
 *   that stage as an input, or a second writer of the Gateway's conditions
 *   racing the status writer. The data plane is unaffected either way (the
 *   Envoys listen on the Gateway's ports on every node); what is missing is the
 *   Service in front of them, and the log line says which and why.
 *
 * Failures (409, 422, 5xx, an unreachable server) are logged and retried
 * after a back-off, and with every new pass; they are never fatal.
 */
import type { Logger } from "pino";
import { apiVersionOf, kindInfo } from "../../resources/kinds.ts";
import { canonicalJson } from "../status/merge-patch.ts";
import type { ResourceStore } from "../store.ts";
import type { BackoffOptions } from "./backoff.ts";
import type { KubeClient } from "./kube-client.ts";
import { deleteIfUnchanged, serverSideApply } from "./object-requests.ts";
import {
  applyBody,
  type DesiredObject,
  holds,
  isManagedByStrait,
  isOwnedKind,
  OWNED_KINDS,
  type OwnedKind,
} from "./owned-object.ts";
import { resourcePath } from "./resource-path.ts";
import { type WriteOutcome, WriteRunner, type WriteTask } from "./write-runner.ts";

export interface OwnedObjectWriterOptions {
  readonly client: KubeClient;
  /** Where the live objects are read; its deletions tell the writer an object is gone. */
  readonly store: ResourceStore;
  readonly isLeader: () => boolean;
  /** False while the owners' kind cannot be read (default: always true); deletes wait meanwhile. */
  readonly canDelete?: () => boolean;
  readonly logger: Logger;
  /** Back-off of retries after failed writes (default 1 s, up to 30 s). */
  readonly retry?: BackoffOptions;
  /** Requests in flight at once (default 4). */
  readonly concurrency?: number;
}

interface Applied {
  /** Canonical JSON of the apply configuration. */
  readonly desired: string;
  /** resourceVersion of the live object when applied; undefined when the apply created it. */
  readonly baseVersion: string | undefined;
  /** resourceVersion the server answered with. */
  readonly resultVersion: string | undefined;
}

interface LiveObject {
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly uid?: string;
    readonly resourceVersion?: string;
    readonly labels?: Record<string, string>;
  };
}

export class OwnedObjectWriter {
  readonly #options: OwnedObjectWriterOptions;
  readonly #runner: WriteRunner;
  readonly #unsubscribe: () => void;
  /** Key → this replica's last successful apply. */
  readonly #applied = new Map<string, Applied>();
  /** Key → uid of the object deleted, until the store drops it too. */
  readonly #deleted = new Map<string, string>();
  /** Key → why strait leaves it alone. */
  #blocked = new Map<string, string>();
  readonly #refused = new Set<string>();
  readonly #noUid = new Set<string>();
  /** The objects of the latest pass; undefined until the first. */
  #latest: readonly DesiredObject[] | undefined;

  constructor(options: OwnedObjectWriterOptions) {
    this.#options = options;
    this.#runner = new WriteRunner(() => this.#plan(this.#latest), {
      logger: options.logger,
      what: "owned objects",
      concurrency: options.concurrency ?? 4,
      ...(options.retry === undefined ? {} : { retry: options.retry }),
    });
    this.#unsubscribe = options.store.subscribe((change) => {
      if (change.type !== "delete" || !isOwnedKind(change.key.kind)) return;
      // Gone from the cluster: whatever was applied before no longer holds, and a delete is done.
      const key = keyOf(change.key.kind, change.key.namespace, change.key.name);
      this.#applied.delete(key);
      this.#deleted.delete(key);
    });
  }

  /** Objects strait should own but does not write, because one of that name is not strait's. */
  get blocked(): readonly string[] {
    return [...this.#blocked.keys()];
  }

  /** Records the objects of a pass and writes what differs; resolves with the number of writes. */
  write(objects: readonly DesiredObject[]): Promise<number> {
    this.#latest = objects;
    return this.flush();
  }

  /** Forgets what was applied and writes everything once: on becoming leader. */
  resync(): Promise<number> {
    this.#applied.clear();
    return this.flush();
  }

  /** Runs are serialized; calls during a run share the next one, which takes the latest objects. */
  flush(): Promise<number> {
    return this.#runner.flush();
  }

  stop(): void {
    this.#runner.stop();
    this.#unsubscribe();
  }

  /** The writes of one run: applies of what differs, deletes of what is no longer wanted. */
  #plan(objects: readonly DesiredObject[] | undefined): WriteTask[] {
    if (!this.#options.isLeader()) {
      this.#blocked.clear(); // only the leader writes, so only the leader knows what is blocked
      return [];
    }
    if (objects === undefined) return [];
    const { store } = this.#options;
    const wanted = new Set<string>();
    const blocked = new Map<string, string>();
    const tasks: WriteTask[] = [];
    for (const obj of objects) {
      const kind = obj.kind;
      if (!isOwnedKind(kind) || obj.apiVersion !== apiVersionOf(kindInfo(kind))) {
        this.#refuse(`${obj.apiVersion}/${kind}`);
        continue;
      }
      const { namespace, name } = obj.metadata;
      const key = keyOf(kind, namespace, name);
      wanted.add(key);
      const live = store.get(kind, namespace, name) as LiveObject | undefined;
      if (live !== undefined && !isManagedByStrait(live.metadata.labels)) {
        blocked.set(key, `a ${kind} of that name exists that strait does not manage`);
        continue;
      }
      const { body, droppedOwnerReferences } = applyBody(obj);
      if (droppedOwnerReferences > 0) this.#warnNoUid(key);
      const desired = canonicalJson(body);
      if (this.#upToDate(key, desired, body, live)) continue;
      tasks.push(() => this.#apply(kind, key, body, desired, live));
    }
    const deleting = this.#options.canDelete?.() ?? true;
    for (const kind of deleting ? OWNED_KINDS : []) {
      for (const live of store.list(kind) as readonly LiveObject[]) {
        if (!isManagedByStrait(live.metadata.labels)) continue;
        const key = keyOf(kind, live.metadata.namespace ?? "", live.metadata.name);
        if (wanted.has(key) || this.#deleted.get(key) === (live.metadata.uid ?? "")) continue;
        tasks.push(() => this.#delete(kind, key, live));
      }
    }
    this.#setBlocked(blocked);
    return tasks;
  }

  /**
   * Whether the live object already is what this replica applied last. Without
   * a last apply (a new leader, a changed object) it never is: only an apply
   * removes fields strait applied before and no longer wants.
   */
  #upToDate(key: string, desired: string, body: unknown, live: LiveObject | undefined): boolean {
    const last = this.#applied.get(key);
    if (last === undefined || last.desired !== desired) return false;
    // Created, and the watch has not brought it back yet (a deletion seen since drops `last`).
    if (live === undefined) return last.baseVersion === undefined;
    const version = live.metadata.resourceVersion;
    // Exactly what the apply produced, or the version before it while the watch lags.
    if (version === last.resultVersion || version === last.baseVersion) return true;
    // Changed since by someone else: rewrite only if a field strait owns differs.
    return holds(live, body);
  }

  async #apply(
    kind: OwnedKind,
    key: string,
    body: Readonly<Record<string, unknown>>,
    desired: string,
    live: LiveObject | undefined,
  ): Promise<WriteOutcome> {
    // Leadership is checked again right before the request: it may have ended during this run.
    if (this.#runner.stopped || !this.#options.isLeader()) return "skipped";
    const { namespace, name } = body.metadata as { namespace: string; name: string };
    const res = await serverSideApply(
      this.#options.client,
      resourcePath(kindInfo(kind), { namespace, name }),
      body,
    );
    if (!res.ok) {
      this.#options.logger.warn(
        { object: key, status: res.status, err: res.message },
        "owned object not applied; retrying",
      );
      return "failed";
    }
    const result = (res.body as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata;
    this.#applied.set(key, {
      desired,
      baseVersion: live?.metadata.resourceVersion,
      resultVersion: typeof result?.resourceVersion === "string" ? result.resourceVersion : undefined,
    });
    if (res.status === 201) this.#options.logger.info({ object: key }, "owned object created");
    else this.#options.logger.debug({ object: key }, "owned object applied");
    return "written";
  }

  async #delete(kind: OwnedKind, key: string, live: LiveObject): Promise<WriteOutcome> {
    if (this.#runner.stopped || !this.#options.isLeader()) return "skipped";
    const { namespace = "", name, uid, resourceVersion } = live.metadata;
    const res = await deleteIfUnchanged(
      this.#options.client,
      resourcePath(kindInfo(kind), { namespace, name }),
      { uid, resourceVersion },
    );
    // 404: gone already (the garbage collector, after its Gateway was deleted).
    if (res.ok || res.status === 404) {
      this.#deleted.set(key, uid ?? "");
      this.#applied.delete(key);
      this.#options.logger.info({ object: key }, "owned object deleted: no longer wanted");
      return "written";
    }
    const log = res.status === 409 ? this.#options.logger.info : this.#options.logger.warn;
    log.call(
      this.#options.logger,
      { object: key, status: res.status, err: res.message },
      res.status === 409
        ? "owned object not deleted: it changed meanwhile; checking again"
        : "owned object not deleted; retrying",
    );
    return "failed";
  }

  #setBlocked(next: Map<string, string>): void {
    for (const [key, reason] of next) {
      if (!this.#blocked.has(key)) {
        this.#options.logger.warn({ object: key, reason }, "owned object not written: the name is taken");
      }
    }
    for (const key of this.#blocked.keys()) {
      if (!next.has(key)) this.#options.logger.info({ object: key }, "owned object no longer blocked");
    }
    this.#blocked = next;
  }

  #refuse(kind: string): void {
    if (this.#refused.has(kind)) return;
    this.#refused.add(kind);
    this.#options.logger.error({ kind }, "strait does not own objects of this kind; not written");
  }

  #warnNoUid(key: string): void {
    if (this.#noUid.has(key)) return;
    this.#noUid.add(key);
    this.#options.logger.warn(
      { object: key },
      "owner has no uid: applying the owned object without an owner reference",
    );
  }
}

function keyOf(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}
