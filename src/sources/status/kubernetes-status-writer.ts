/**
 * Cluster status writing: each status the pipeline computes is written with a
 * JSON merge patch on the object's `/status` subresource, and only
 *
 * - while this replica is the leader (checked before every request, so losing
 *   the Lease stops writes at once);
 * - when it differs from the object's current status in the store (which the
 *   watch keeps current, including the results of strait's own writes), or
 *   from what this replica wrote last while the watch has not yet brought it back.
 *
 * Each patch carries the resourceVersion the status was computed from, so a
 * status computed from a stale object is refused (409) rather than written over
 * a newer one, for instance another controller's entry in a route's parents.
 * Failures (409, 404, 5xx, an unreachable server) are logged and retried after
 * a back-off, and with every new reconcile; they are never fatal.
 */
import type { Logger } from "pino";
import type { ObjectStatus } from "../../model/status.ts";
import { isKindName, kindInfo } from "../../resources/kinds.ts";
import type { ResourceView } from "../../resources/view.ts";
import type { BackoffOptions } from "../kubernetes/backoff.ts";
import type { KubeClient } from "../kubernetes/kube-client.ts";
import { resourcePath } from "../kubernetes/resource-path.ts";
import { type WriteOutcome, WriteRunner } from "../kubernetes/write-runner.ts";
import { canonicalJson, createMergePatch, sameJson } from "./merge-patch.ts";
import { isStatusKind } from "./status-kinds.ts";
import type { StatusWriter } from "./status-writer.ts";
import { carryTransitionTimes } from "./transition-times.ts";

export interface KubernetesStatusWriterOptions {
  readonly client: KubeClient;
  readonly view: ResourceView;
  readonly isLeader: () => boolean;
  readonly logger: Logger;
  /** Back-off of retries after failed writes (default 1 s, up to 30 s). */
  readonly retry?: BackoffOptions;
  /** Patches in flight at once (default 8). */
  readonly concurrency?: number;
}

interface Written {
  /** resourceVersion of the object the patch was computed from. */
  readonly baseVersion: string | undefined;
  readonly status: string;
}

export class KubernetesStatusWriter implements StatusWriter {
  readonly #options: KubernetesStatusWriterOptions;
  readonly #runner: WriteRunner;
  readonly #written = new Map<string, Written>();
  readonly #refused = new Set<string>();
  /**
   * Stored object → a status object known to equal its status. The pipeline
   * hands back the same status object for an unchanged object, so one identity
   * check settles most statuses of a reconcile without serializing anything.
   */
  readonly #settled = new WeakMap<object, object>();
  #latest: readonly ObjectStatus[] = [];

  constructor(options: KubernetesStatusWriterOptions) {
    this.#options = options;
    this.#runner = new WriteRunner(
      () => (options.isLeader() ? this.#latest.map((s) => () => this.#writeOne(s)) : []),
      {
        logger: options.logger,
        what: "statuses",
        concurrency: options.concurrency ?? 8,
        ...(options.retry === undefined ? {} : { retry: options.retry }),
      },
    );
  }

  /** Records the statuses and writes those that changed; resolves with how many were written. */
  write(statuses: readonly ObjectStatus[]): Promise<number> {
    this.#latest = statuses;
    return this.flush();
  }

  /**
   * Writes the latest statuses (on becoming leader, and for retries); calls
   * while a run is going share the next one (see write-runner.ts).
   */
  flush(): Promise<number> {
    return this.#runner.flush();
  }

  stop(): void {
    this.#runner.stop();
  }

  async #writeOne(s: ObjectStatus): Promise<WriteOutcome> {
    const { kind, namespace, name } = s.ref;
    if (!isKindName(kind) || !isStatusKind(kind)) {
      if (!this.#refused.has(kind)) {
        this.#refused.add(kind);
        this.#options.logger.error(
          { kind },
          "strait has no permission to write this kind's status; not written",
        );
      }
      return "skipped";
    }
    const key = `${kind}/${namespace}/${name}`;
    const current = this.#options.view.get(kind, namespace, name) as
      | { metadata: { resourceVersion?: string }; status?: unknown }
      | undefined;
    if (current === undefined) {
      this.#written.delete(key);
      return "skipped";
    }
    if (current.status === s.status || this.#settled.get(current) === s.status) return "skipped";
    // Transition times of conditions that hold are the object's own (the pipeline stamps its clock).
    const status = carryTransitionTimes(current.status, s.status);
    if (sameJson(current.status ?? {}, status)) {
      this.#settled.set(current, s.status);
      this.#written.delete(key);
      return "skipped";
    }
    const desired = canonicalJson(status);
    const version = current.metadata.resourceVersion;
    const last = this.#written.get(key);
    // Written already from this very object version; the watch has not brought the result back yet.
    if (last !== undefined && last.baseVersion === version && last.status === desired) return "skipped";
    // Leadership is checked again right before the request: it may have ended during this run.
    if (this.#runner.stopped || !this.#options.isLeader()) return "skipped";
    const res = await this.#options.client.request(
      "PATCH",
      resourcePath(kindInfo(kind), { namespace, name, subresource: "status" }),
      {
        body: {
          metadata: version === undefined ? {} : { resourceVersion: version },
          status: createMergePatch(current.status, status),
        },
        contentType: "application/merge-patch+json",
      },
    );
    if (res.ok) {
      this.#written.set(key, { baseVersion: version, status: desired });
      return "written";
    }
    const log = res.status === 409 ? this.#options.logger.info : this.#options.logger.warn;
    log.call(
      this.#options.logger,
      { object: key, status: res.status, err: res.message },
      res.status === 409
        ? "status not written: the object changed meanwhile; retrying"
        : "status not written; retrying",
    );
    return "failed";
  }
}
