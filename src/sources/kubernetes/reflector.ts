/**
 * A reflector keeps the store's objects of one kind equal to the API server's:
 * list (in pages), then watch from the list's resourceVersion, applying every
 * event; on the watch's end, resume from the last resourceVersion seen.
 *
 * Written on client-node's Watch rather than its ListWatch/makeInformer,
 * because ListWatch (2.0.1) does not ask for bookmarks (`allowWatchBookmarks`
 * is not among the query parameters it sends), stops for good on the first
 * list or watch error instead of backing off and retrying, and lists in one
 * unpaginated request. The rules here are client-go's:
 *
 * - a 410 Gone (an ERROR event with a 410 Status, or a 410 answer) means the
 *   resourceVersion is no longer in the server's history: re-list, and replace
 *   the kind's contents in the store, so objects deleted during the gap go away;
 * - BOOKMARK events only advance the resourceVersion, so a quiet kind resumes
 *   from a recent point instead of an expired one;
 * - any other error is retried from the last resourceVersion after an
 *   exponential back-off (reset once a watch works again);
 * - a 404 on the list means the kind is not served (its CRD is not installed):
 *   logged once, the kind's objects are dropped, and it is retried slowly.
 */
import type { Logger } from "pino";
import { messageOf } from "../../errors.ts";
import type { KindInfo } from "../../resources/kinds.ts";
import type { AnyStoredObject } from "../../resources/objects.ts";
import type { ResourceStore } from "../store.ts";
import { Backoff, type BackoffOptions, Sleeper } from "./backoff.ts";
import type { KubeClient } from "./kube-client.ts";
import { resourcePath } from "./resource-path.ts";
import { describeRaw, resourceVersionOf, storedObjectFrom } from "./stored-object.ts";

export interface ReflectorTiming {
  /** Items per list request (`limit`); the rest follows with `continue`. */
  readonly pageSize: number;
  readonly backoff: BackoffOptions;
  /** Retry interval for a kind the server does not serve. */
  readonly unservedRetryMs: number;
  /** `timeoutSeconds` of each watch; the server ends it then and the reflector resumes. */
  readonly watchTimeoutSeconds: number;
  /** A watch that delivers nothing (not even a bookmark) for this long is presumed dead. */
  readonly inactivityTimeoutMs: number;
  /** A watch that lasted this long counts as healthy even without events: no back-off before the next. */
  readonly healthyWatchMs: number;
}

export const DEFAULT_REFLECTOR_TIMING: ReflectorTiming = {
  pageSize: 500,
  backoff: { initialMs: 500, maxMs: 30_000 },
  unservedRetryMs: 60_000,
  // client-go picks 5–10 minutes; the server also sends a bookmark about once a minute.
  watchTimeoutSeconds: 300,
  inactivityTimeoutMs: 150_000,
  healthyWatchMs: 1_000,
};

/** pending: not listed yet; synced: listed at least once; unserved: the server answered 404. */
export type ReflectorState = "pending" | "synced" | "unserved";

export interface ReflectorOptions {
  readonly client: KubeClient;
  readonly store: ResourceStore;
  readonly logger: Logger;
  readonly timing: ReflectorTiming;
  readonly onState: (state: ReflectorState) => void;
}

type ListOutcome =
  | { readonly kind: "listed"; readonly items: readonly unknown[]; readonly resourceVersion: string }
  | { readonly kind: "unserved" }
  | { readonly kind: "failed"; readonly message: string };

interface WatchEnd {
  readonly reason: "closed" | "expired" | "failed" | "unserved" | "stopped";
  readonly message?: string;
  /** Events applied (bookmarks included). */
  readonly events: number;
  readonly ms: number;
}

export class Reflector {
  readonly info: KindInfo;
  readonly #options: ReflectorOptions;
  readonly #log: Logger;
  readonly #backoff: Backoff;
  #resourceVersion: string | undefined;
  #state: ReflectorState = "pending";
  #stopped = false;
  #running: Promise<void> | undefined;
  #abortList: AbortController | undefined;
  #cancelWatch: (() => void) | undefined;
  readonly #sleeper = new Sleeper();

  constructor(info: KindInfo, options: ReflectorOptions) {
    this.info = info;
    this.#options = options;
    this.#log = options.logger.child({ kind: info.kind });
    this.#backoff = new Backoff(options.timing.backoff);
  }

  /** The resourceVersion the next watch resumes from (undefined: the next step is a list). */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  get state(): ReflectorState {
    return this.#state;
  }

  start(): void {
    this.#running ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#abortList?.abort();
    this.#cancelWatch?.();
    this.#sleeper.wake();
    await this.#running;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        await this.#step();
      } catch (error) {
        // A bug, not an API failure: keep the process and the other kinds going.
        this.#log.error({ err: error }, "reflector step failed; retrying");
        await this.#sleep(this.#backoff.next());
      }
    }
  }

  async #step(): Promise<void> {
    if (this.#resourceVersion === undefined) {
      const listed = await this.#list();
      if (this.#stopped) return;
      if (listed.kind === "unserved") {
        this.#markUnserved();
        await this.#sleep(this.#options.timing.unservedRetryMs);
        return;
      }
      if (listed.kind === "failed") {
        const delay = this.#backoff.next();
        this.#log.warn({ err: listed.message, retryInMs: delay }, "list failed");
        await this.#sleep(delay);
        return;
      }
      this.#applyList(listed.items);
      this.#resourceVersion = listed.resourceVersion;
    }
    const end = await this.#watch(this.#resourceVersion);
    if (this.#stopped || end.reason === "stopped") return;
    const healthy = end.events > 0 || end.ms >= this.#options.timing.healthyWatchMs;
    if (healthy) this.#backoff.reset();
    if (end.reason === "expired" || end.reason === "unserved") {
      this.#log.info({ reason: end.reason, message: end.message }, "watch cannot resume; re-listing");
      this.#resourceVersion = undefined;
    } else if (end.reason === "failed") {
      this.#log.warn({ err: end.message, resourceVersion: this.#resourceVersion }, "watch failed; resuming");
    } else {
      this.#log.debug(
        { resourceVersion: this.#resourceVersion, events: end.events },
        "watch ended; resuming",
      );
    }
    if (!healthy) await this.#sleep(this.#backoff.next());
  }

  /** Lists every page; a continue token that expired mid-way restarts the list (at most 3 times). */
  async #list(): Promise<ListOutcome> {
    const path = resourcePath(this.info);
    for (let attempt = 0; attempt < 3; attempt++) {
      const items: unknown[] = [];
      let token: string | undefined;
      for (;;) {
        this.#abortList = new AbortController();
        const res = await this.#options.client.request("GET", path, {
          query: { limit: this.#options.timing.pageSize, continue: token },
          signal: this.#abortList.signal,
        });
        this.#abortList = undefined;
        if (this.#stopped) return { kind: "failed", message: "stopped" };
        if (!res.ok) {
          if (res.status === 404) return { kind: "unserved" };
          if (res.status !== 410 || token === undefined) return { kind: "failed", message: res.message };
          // The continue token outlived the server's history: the pages would not be consistent.
          this.#log.info("list continue token expired; listing again from the start");
          break;
        }
        const body = res.body as {
          items?: unknown;
          metadata?: { resourceVersion?: unknown; continue?: unknown };
        };
        const rv = body?.metadata?.resourceVersion;
        if (!Array.isArray(body?.items) || typeof rv !== "string" || rv === "") {
          return { kind: "failed", message: "the list response has no items or no resourceVersion" };
        }
        items.push(...body.items);
        const next = body.metadata?.continue;
        token = typeof next === "string" && next !== "" ? next : undefined;
        if (token === undefined) return { kind: "listed", items, resourceVersion: rv };
      }
    }
    return { kind: "failed", message: "the list's continue token kept expiring" };
  }

  #applyList(items: readonly unknown[]): void {
    const objects: AnyStoredObject[] = [];
    for (const raw of items) {
      const stored = storedObjectFrom(this.info, raw);
      if (stored.ok) objects.push(stored.object);
      else this.#log.warn({ object: describeRaw(raw), reason: stored.reason }, "malformed object ignored");
    }
    const changes = this.#options.store.replaceKind(this.info.kind, objects as never[]);
    const first = this.#state !== "synced";
    if (this.#state === "unserved") this.#log.info("kind is served now");
    this.#log[first ? "info" : "debug"]({ objects: objects.length, changes }, "listed");
    this.#setState("synced");
  }

  #markUnserved(): void {
    if (this.#state !== "unserved") {
      this.#log.warn(
        { retryEveryMs: this.#options.timing.unservedRetryMs },
        "kind not served by the API server (is its CRD installed?); retrying slowly, readiness does not wait for it",
      );
      const removed = this.#options.store.replaceKind(this.info.kind, []);
      if (removed > 0) this.#log.info({ removed }, "objects of an unserved kind removed");
    }
    this.#setState("unserved");
  }

  #setState(state: ReflectorState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#options.onState(state);
  }

  #watch(resourceVersion: string): Promise<WatchEnd> {
    const started = performance.now();
    let events = 0;
    return new Promise<WatchEnd>((resolve) => {
      let controller: AbortController | undefined;
      let finished = false;
      const finish = (reason: WatchEnd["reason"], message?: string) => {
        if (finished) return;
        finished = true;
        this.#cancelWatch = undefined;
        controller?.abort();
        resolve({
          reason,
          ...(message === undefined ? {} : { message }),
          events,
          ms: performance.now() - started,
        });
      };
      this.#cancelWatch = () => finish("stopped");
      const onEvent = (type: unknown, object: unknown) => {
        if (finished) return;
        try {
          const outcome = this.#apply(type, object);
          if (outcome === "applied") events++;
          else if (outcome !== "ignored") finish(outcome.reason, outcome.message);
        } catch (error) {
          this.#log.error({ err: error }, "watch event could not be applied");
        }
      };
      const onDone = (error: unknown) => {
        if (error === null || error === undefined) return finish("closed");
        const status = (error as { statusCode?: unknown }).statusCode;
        if (status === 410) return finish("expired", messageOf(error));
        if (status === 404) return finish("unserved", messageOf(error));
        if ((error as { name?: unknown }).name === "TimeoutError") {
          return finish("closed", "no event within the inactivity timeout");
        }
        finish("failed", messageOf(error));
      };
      this.#options.client
        .watch(
          resourcePath(this.info),
          {
            watch: true,
            resourceVersion,
            allowWatchBookmarks: true,
            timeoutSeconds: this.#options.timing.watchTimeoutSeconds,
          },
          onEvent,
          onDone,
          this.#options.timing.inactivityTimeoutMs,
        )
        .then(
          (c) => {
            controller = c;
            if (finished) c.abort();
          },
          (error: unknown) => onDone(error ?? new Error("watch failed")),
        );
    });
  }

  /** Applies one watch event to the store and advances the resourceVersion. */
  #apply(
    type: unknown,
    object: unknown,
  ): "applied" | "ignored" | { reason: "expired" | "failed"; message: string } {
    const store = this.#options.store;
    switch (type) {
      case "ADDED":
      case "MODIFIED": {
        const stored = storedObjectFrom(this.info, object);
        if (!stored.ok) {
          this.#log.warn(
            { object: describeRaw(object), reason: stored.reason, type },
            "malformed object ignored",
          );
          this.#advance(object);
          return "ignored";
        }
        store.upsert(this.info.kind, stored.object as never);
        this.#advance(object);
        return "applied";
      }
      case "DELETED": {
        const meta = (object as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
        if (typeof meta?.name !== "string") {
          this.#log.warn({ object: describeRaw(object) }, "malformed DELETED event ignored");
          return "ignored";
        }
        store.delete(this.info.kind, typeof meta.namespace === "string" ? meta.namespace : "", meta.name);
        this.#advance(object);
        return "applied";
      }
      case "BOOKMARK":
        this.#advance(object);
        return "applied";
      case "ERROR": {
        const status = object as { code?: unknown; message?: unknown } | null;
        const message = typeof status?.message === "string" ? status.message : "watch error";
        return status?.code === 410 ? { reason: "expired", message } : { reason: "failed", message };
      }
      default:
        this.#log.warn({ type: String(type) }, "unknown watch event type ignored");
        return "ignored";
    }
  }

  #advance(object: unknown): void {
    const rv = resourceVersionOf(object);
    if (rv !== undefined) this.#resourceVersion = rv;
  }

  #sleep(ms: number): Promise<void> {
    return this.#stopped ? Promise.resolve() : this.#sleeper.sleep(ms);
  }
}
