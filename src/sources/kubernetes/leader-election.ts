/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's rules,
 * so strait replicas behave like every other controller in the cluster:
 *
 * - the Lease records holderIdentity, leaseDurationSeconds, acquireTime,
 *   renewTime and leaseTransitions; every write carries the resourceVersion it
 *   read, so two replicas racing for it cannot both win (409 → re-read next time);
 * - a replica may take the Lease when it has no holder or when its record has
 *   not changed for leaseDurationSeconds *as observed on this replica's own
 *   clock* (renewTime is informative only: clocks of two nodes may disagree);
 * - the leader renews every retry period; if it cannot renew for the renew
 *   deadline (shorter than the lease duration) it stops leading at once, before
 *   any other replica may take over, so two leaders never write at the same time;
 * - on a graceful stop the leader releases the Lease (empty holder), so another
 *   replica takes over at its next retry instead of after the lease duration.
 *
 * Only status writing depends on leadership; every replica keeps reconciling
 * and serving.
 */
import type { Logger } from "pino";
import { messageOf } from "../../errors.ts";
import { Sleeper } from "./backoff.ts";
import type { KubeClient } from "./kube-client.ts";
import { namespacedCollectionPath, type ResourceLocation, resourcePath } from "./resource-path.ts";

export const LEASE_RESOURCE: ResourceLocation = {
  group: "coordination.k8s.io",
  version: "v1",
  plural: "leases",
  namespaced: true,
};

export interface LeaderElectionOptions {
  readonly client: KubeClient;
  readonly namespace: string;
  readonly name: string;
  readonly identity: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
  readonly logger: Logger;
}

/** spec of a coordination.k8s.io/v1 Lease. */
export interface LeaseSpec {
  readonly holderIdentity?: string;
  readonly leaseDurationSeconds?: number;
  readonly acquireTime?: string;
  readonly renewTime?: string;
  readonly leaseTransitions?: number;
}

interface Lease {
  readonly metadata: {
    readonly name: string;
    readonly namespace?: string;
    readonly resourceVersion?: string;
  };
  readonly spec?: LeaseSpec;
}

export type LeadershipListener = (leading: boolean) => void;

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

export class LeaderElector {
  readonly #options: LeaderElectionOptions;
  readonly #log: Logger;
  readonly #listeners = new Set<LeadershipListener>();
  #leading = false;
  /** Monotonic time at which the last successful renewal was sent. */
  #renewedAt = Number.NEGATIVE_INFINITY;
  #observedSpec = "";
  #observedAt = Number.NEGATIVE_INFINITY;
  #observedHolder: string | undefined;
  #stopped = false;
  #running: Promise<void> | undefined;
  #deadline: NodeJS.Timeout | undefined;
  readonly #sleeper = new Sleeper();
  #inflight: AbortController | undefined;

  constructor(options: LeaderElectionOptions) {
    if (options.renewDeadlineMs >= options.leaseDurationMs) {
      throw new RangeError("the renew deadline must be shorter than the lease duration");
    }
    if (options.retryPeriodMs >= options.renewDeadlineMs) {
      throw new RangeError("the retry period must be shorter than the renew deadline");
    }
    this.#options = options;
    this.#log = options.logger.child({
      lease: `${options.namespace}/${options.name}`,
      identity: options.identity,
    });
  }

  get identity(): string {
    return this.#options.identity;
  }

  /**
   * True while this replica holds the Lease and renewed it within the renew
   * deadline. Checked before every status write, so a stalled renewal stops
   * writes even before the loop notices.
   */
  get isLeader(): boolean {
    return this.#leading && performance.now() - this.#renewedAt < this.#options.renewDeadlineMs;
  }

  /** The holder last seen in the Lease. */
  get holder(): string | undefined {
    return this.#observedHolder;
  }

  /** Called on every change of leadership, with the new state. */
  onChange(listener: LeadershipListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  start(): void {
    this.#running ??= this.#run();
  }

  /**
   * Stops electing. A leader stops leading first and then, unless `release` is
   * false (for tests that simulate a crash), hands the Lease back.
   */
  async stop(options: { readonly release?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    this.#sleeper.wake();
    this.#inflight?.abort();
    await this.#running;
    const wasLeading = this.#leading;
    this.#setLeading(false, "stopping");
    if (wasLeading && options.release !== false) await this.#release();
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const sentAt = performance.now();
      let renewed = false;
      try {
        renewed = await this.#tryAcquireOrRenew();
      } catch (error) {
        this.#log.error({ err: error }, "leader election attempt failed");
      }
      if (this.#stopped) break;
      if (renewed) {
        this.#renewedAt = sentAt;
        this.#armDeadline();
        this.#setLeading(true, "acquired the lease");
      }
      // Replicas that wait for the Lease spread their attempts (client-go's jitter factor 1.2).
      const wait = this.#leading
        ? this.#options.retryPeriodMs
        : this.#options.retryPeriodMs * (1 + 1.2 * Math.random());
      await this.#sleep(wait);
    }
  }

  /** One attempt; true when this replica holds the Lease afterwards. */
  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.#options;
    const path = resourcePath(LEASE_RESOURCE, { namespace, name });
    const now = new Date();
    const got = await this.#request("GET", path);
    if (!got.ok) {
      if (got.status !== 404) {
        this.#log.warn({ err: got.message }, "cannot read the lease");
        return false;
      }
      const spec = this.#spec(undefined, now);
      const created = await this.#request("POST", namespacedCollectionPath(LEASE_RESOURCE, namespace), {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: { name, namespace },
        spec,
      });
      if (!created.ok) {
        this.#log.debug({ err: created.message }, "cannot create the lease");
        return false;
      }
      this.#observe(spec);
      return true;
    }
    const lease = got.body as Lease;
    const current = lease.spec ?? {};
    this.#observe(current);
    const holder = current.holderIdentity ?? "";
    const durationMs = (current.leaseDurationSeconds ?? this.#options.leaseDurationMs / 1000) * 1000;
    if (holder !== "" && holder !== identity && performance.now() < this.#observedAt + durationMs) {
      this.#setLeading(false, `the lease is held by ${holder}`);
      return false;
    }
    const spec = this.#spec(current, now);
    const updated = await this.#request("PUT", path, {
      apiVersion: "coordination.k8s.io/v1",
      kind: "Lease",
      metadata: lease.metadata,
      spec,
    });
    if (!updated.ok) {
      // 409: another replica wrote the Lease since we read it; the next attempt re-reads.
      this.#log.debug({ err: updated.message }, "cannot update the lease");
      return false;
    }
    this.#observe(spec);
    if (holder !== identity) {
      this.#log.info({ previousHolder: holder === "" ? undefined : holder }, "took over the lease");
    }
    return true;
  }

  /** The Lease spec this replica writes: renewing keeps acquireTime and leaseTransitions. */
  #spec(current: LeaseSpec | undefined, now: Date): LeaseSpec {
    const mine = current?.holderIdentity === this.#options.identity;
    const transitions = current?.leaseTransitions ?? 0;
    return {
      holderIdentity: this.#options.identity,
      leaseDurationSeconds: Math.max(1, Math.ceil(this.#options.leaseDurationMs / 1000)),
      acquireTime: mine && current?.acquireTime !== undefined ? current.acquireTime : microTime(now),
      renewTime: microTime(now),
      leaseTransitions: current === undefined ? 0 : mine ? transitions : transitions + 1,
    };
  }

  async #release(): Promise<void> {
    const { namespace, name, identity } = this.#options;
    const path = resourcePath(LEASE_RESOURCE, { namespace, name });
    const got = await this.#options.client.request("GET", path);
    if (!got.ok) return;
    const lease = got.body as Lease;
    if (lease.spec?.holderIdentity !== identity) return;
    const now = microTime(new Date());
    const released = await this.#options.client.request("PUT", path, {
      body: {
        apiVersion: "coordination.k8s.io/v1",
        kind: "Lease",
        metadata: lease.metadata,
        spec: {
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: lease.spec.leaseTransitions ?? 0,
        },
      },
    });
    if (released.ok) this.#log.info("released the lease");
    else this.#log.warn({ err: released.message }, "cannot release the lease; it expires on its own");
  }

  async #request(method: string, path: string, body?: unknown) {
    // A request may take no longer than the renew deadline: a hung renewal must not outlive leadership.
    this.#inflight = new AbortController();
    const signal = AbortSignal.any([
      this.#inflight.signal,
      AbortSignal.timeout(this.#options.renewDeadlineMs),
    ]);
    try {
      return await this.#options.client.request(method, path, {
        ...(body === undefined ? {} : { body }),
        signal,
      });
    } finally {
      this.#inflight = undefined;
    }
  }

  /** Remembers when the record last changed, on this replica's clock. */
  #observe(spec: LeaseSpec): void {
    const text = JSON.stringify([
      spec.holderIdentity ?? "",
      spec.leaseDurationSeconds,
      spec.acquireTime,
      spec.renewTime,
      spec.leaseTransitions,
    ]);
    if (text !== this.#observedSpec) {
      this.#observedSpec = text;
      this.#observedAt = performance.now();
    }
    const holder = spec.holderIdentity === "" ? undefined : spec.holderIdentity;
    if (holder !== this.#observedHolder && holder !== this.#options.identity) {
      this.#log.info(
        { holder },
        holder === undefined ? "the lease has no holder" : "the lease is held by another replica",
      );
    }
    this.#observedHolder = holder;
  }

  #armDeadline(): void {
    if (this.#deadline !== undefined) clearTimeout(this.#deadline);
    this.#deadline = setTimeout(() => {
      if (performance.now() - this.#renewedAt >= this.#options.renewDeadlineMs) {
        this.#setLeading(false, "could not renew the lease within the renew deadline");
      }
    }, this.#options.renewDeadlineMs);
    this.#deadline.unref();
  }

  #setLeading(leading: boolean, reason: string): void {
    if (this.#leading === leading) return;
    this.#leading = leading;
    if (!leading && this.#deadline !== undefined) clearTimeout(this.#deadline);
    if (leading) this.#log.info({ reason }, "became leader: writing statuses");
    else this.#log.warn({ reason }, "stopped leading: no more status writes");
    for (const listener of this.#listeners) {
      try {
        listener(leading);
      } catch (error) {
        this.#log.error({ err: messageOf(error) }, "leadership listener failed");
      }
    }
  }

  #sleep(ms: number): Promise<void> {
    return this.#stopped ? Promise.resolve() : this.#sleeper.sleep(ms);
  }
}
