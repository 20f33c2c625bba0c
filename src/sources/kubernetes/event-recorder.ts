/**
 * Kubernetes Events (events.k8s.io/v1) for problems that have no status to
 * show them in, as client-go's events recorder writes them.
 *
 * `record(current)` takes every problem that holds now (the latest pass's),
 * not occurrences: a problem that stays from pass to pass is one Event, not
 * one per pass. A problem that goes away and comes back within the series
 * window is a repetition: its Event's `series` is patched (`count`, starting
 * at 2, and `lastObservedTime`), as client-go's isomorphic events are; after
 * the window, or if the Event is gone (the API server's TTL), a new one is
 * created. Events are best effort: a failed write is logged and the problem
 * tried again on the next pass.
 *
 * Only the leader records (the caller checks); a new leader may write once
 * again what the previous one wrote, as client-go controllers do.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { KubeClient } from "./kube-client.ts";

/** The object an Event is about. */
export interface EventRegarding {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
}

export interface EventSpec {
  readonly regarding: EventRegarding;
  readonly type: "Normal" | "Warning";
  /** CamelCase, e.g. `InvalidEndpoint`. */
  readonly reason: string;
  /** What strait did about it, e.g. `Translate`. */
  readonly action: string;
  /** Human-readable; at most 1 kB (longer notes are cut). */
  readonly note: string;
}

export interface EventRecorderOptions {
  readonly client: KubeClient;
  /** `reportingController`, e.g. `strait.dev/gateway-controller`. */
  readonly controller: string;
  /** `reportingInstance`: this replica's identity. */
  readonly instance: string;
  readonly logger: Logger;
  /** A repetition within this long of the last observation extends the Event's series (default 30 min). */
  readonly seriesWindowMs?: number;
  readonly now?: () => Date;
}

interface Written {
  readonly namespace: string;
  readonly name: string;
  count: number;
  lastObserved: number;
}

const NOTE_LIMIT = 1024;

function keyOf(e: EventSpec): string {
  const r = e.regarding;
  return JSON.stringify([r.apiVersion, r.kind, r.namespace, r.name, e.type, e.reason, e.action, e.note]);
}

/** MicroTime: RFC 3339 with microseconds. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class EventRecorder {
  readonly #options: EventRecorderOptions;
  readonly #windowMs: number;
  readonly #now: () => Date;
  /** Problems holding at the last `record` whose Event was written. */
  #active = new Set<string>();
  readonly #written = new Map<string, Written>();
  #running: Promise<void> = Promise.resolve();

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#windowMs = options.seriesWindowMs ?? 30 * 60_000;
    this.#now = options.now ?? (() => new Date());
  }

  /** Records the problems holding now; runs serialize, so passes never race each other. */
  record(current: readonly EventSpec[]): Promise<void> {
    const run = this.#running.then(() => this.#record(current));
    this.#running = run.catch(() => {});
    return run;
  }

  async #record(current: readonly EventSpec[]): Promise<void> {
    const now = this.#now();
    const next = new Set<string>();
    for (const spec of current) {
      const key = keyOf(spec);
      if (next.has(key)) continue;
      if (this.#active.has(key)) {
        next.add(key);
        continue;
      }
      if (await this.#write(key, spec, now)) next.add(key);
    }
    this.#active = next;
    for (const [key, w] of this.#written) {
      if (!next.has(key) && now.getTime() - w.lastObserved > this.#windowMs) this.#written.delete(key);
    }
  }

  async #write(key: string, spec: EventSpec, now: Date): Promise<boolean> {
    const { client, logger } = this.#options;
    const before = this.#written.get(key);
    if (before !== undefined && now.getTime() - before.lastObserved <= this.#windowMs) {
      const count = before.count + 1;
      const res = await client.request(
        "PATCH",
        `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(before.namespace)}/events/${encodeURIComponent(before.name)}`,
        {
          body: { series: { count, lastObservedTime: microTime(now) } },
          contentType: "application/merge-patch+json",
        },
      );
      if (res.ok) {
        before.count = count;
        before.lastObserved = now.getTime();
        return true;
      }
      if (res.status !== 404) {
        logger.warn({ event: before.name, reason: spec.reason, err: res.message }, "event not updated");
        return false;
      }
      // The Event expired: a new one below.
    }
    const namespace = spec.regarding.namespace === "" ? "default" : spec.regarding.namespace;
    const name = `${spec.regarding.name}.${randomBytes(8).toString("hex")}`;
    const note = spec.note.length > NOTE_LIMIT ? `${spec.note.slice(0, NOTE_LIMIT - 1)}…` : spec.note;
    const res = await client.request(
      "POST",
      `/apis/events.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/events`,
      {
        body: {
          apiVersion: "events.k8s.io/v1",
          kind: "Event",
          metadata: { name, namespace },
          eventTime: microTime(now),
          reportingController: this.#options.controller,
          reportingInstance: this.#options.instance,
          action: spec.action,
          reason: spec.reason,
          type: spec.type,
          note,
          regarding: spec.regarding,
        },
      },
    );
    if (!res.ok) {
      logger.warn(
        {
          regarding: `${spec.regarding.kind}/${namespace}/${spec.regarding.name}`,
          reason: spec.reason,
          err: res.message,
        },
        "event not written",
      );
      return false;
    }
    this.#written.set(key, { namespace, name, count: 1, lastObserved: now.getTime() });
    return true;
  }
}
