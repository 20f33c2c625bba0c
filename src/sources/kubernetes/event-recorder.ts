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
 * A problem that holds for long gets a heartbeat: once its Event was last
 * written `heartbeatMs` ago (default 30 min, as client-go refreshes its
 * series), the next `record` or `heartbeat()` patches its series (`count`
 * one more, `lastObservedTime` now), as the events.k8s.io/v1 API describes
 * EventSeries updated on heartbeats. That write also renews the Event's TTL
 * in the API server (`--event-ttl`, 1 h by default), so a problem lasting
 * longer is still shown; without it the Event would expire while the problem
 * holds and never be written again. The series count thus counts
 * observations: the first, each recurrence, each heartbeat.
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
  /** An Event whose problem still holds is written again (its series) once this long after its last write (default 30 min). */
  readonly heartbeatMs?: number;
  readonly now?: () => Date;
}

interface Written {
  readonly namespace: string;
  readonly name: string;
  count: number;
  lastObserved: number;
  /** When strait last wrote the Event (created it or patched its series). */
  lastWritten: number;
}

/** How often an Event whose problem holds is written again by default: half the API server's default Event TTL (1 h). */
export const DEFAULT_EVENT_HEARTBEAT_MS = 30 * 60_000;

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
  readonly #heartbeatMs: number;
  readonly #now: () => Date;
  /** Problems holding at the last `record` whose Event was written. */
  #active = new Set<string>();
  /** The problems of the last `record`, for `heartbeat()`. */
  #current: readonly EventSpec[] = [];
  readonly #written = new Map<string, Written>();
  #running: Promise<void> = Promise.resolve();

  constructor(options: EventRecorderOptions) {
    this.#options = options;
    this.#windowMs = options.seriesWindowMs ?? 30 * 60_000;
    this.#heartbeatMs = options.heartbeatMs ?? DEFAULT_EVENT_HEARTBEAT_MS;
    this.#now = options.now ?? (() => new Date());
  }

  /** Records the problems holding now; runs serialize, so passes never race each other. */
  record(current: readonly EventSpec[]): Promise<void> {
    this.#current = current;
    const run = this.#running.then(() => this.#record(current));
    this.#running = run.catch(() => {});
    return run;
  }

  /**
   * Writes the series of the Events whose problem still holds (the last
   * `record`'s) and whose last write is `heartbeatMs` old; for a timer, so a
   * problem is kept alive when no pass runs for long.
   */
  heartbeat(): Promise<void> {
    return this.record(this.#current);
  }

  async #record(current: readonly EventSpec[]): Promise<void> {
    const now = this.#now();
    const next = new Set<string>();
    for (const spec of current) {
      const key = keyOf(spec);
      if (next.has(key)) continue;
      const written = this.#written.get(key);
      const due = written === undefined || now.getTime() - written.lastWritten >= this.#heartbeatMs;
      if (this.#active.has(key) && !due) {
        next.add(key);
        continue;
      }
      // A heartbeat that fails is tried again with the next pass; the problem stays active meanwhile.
      const holding = this.#active.has(key);
      if ((await this.#write(key, spec, now, holding)) || holding) next.add(key);
    }
    this.#active = next;
    for (const [key, w] of this.#written) {
      if (!next.has(key) && now.getTime() - w.lastObserved > this.#windowMs) this.#written.delete(key);
    }
  }

  /** Creates the Event, or patches its series: a recurrence within the window, or a heartbeat (`holding`: the problem never went away). */
  async #write(key: string, spec: EventSpec, now: Date, holding: boolean): Promise<boolean> {
    const { client, logger } = this.#options;
    const before = this.#written.get(key);
    if (before !== undefined && (holding || now.getTime() - before.lastObserved <= this.#windowMs)) {
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
        before.lastWritten = now.getTime();
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
    this.#written.set(key, {
      namespace,
      name,
      count: 1,
      lastObserved: now.getTime(),
      lastWritten: now.getTime(),
    });
    return true;
  }
}
