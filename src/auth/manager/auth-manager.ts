/**
 * The auth manager (Cilium's pkg/auth manager, mutual handler and auth map
 * GC in one): turns the datapath's auth-required events into auth map
 * entries through the handshake with the peer node's agent, and keeps them:
 * - de-duplicates: one handshake per key in flight; a key with a fresh entry,
 *   or in back-off after a failure, is left alone (every retransmitted SYN
 *   of a blocked flow raises another event);
 * - skips reserved identities (below 256: host, world, … have no SVIDs);
 * - re-authenticates before an entry expires while a policy still needs it,
 *   and at once when the local SVID or the bundle rotates; when that fails
 *   the entry holds until its own expiry, and no longer;
 * - garbage-collects entries of identities, nodes and policies that are gone,
 *   and expired ones;
 * - fails closed: no SVID, no bundle, an unreachable or refusing peer → no entry.
 */
import type { Result } from "../../model/result.ts";
import type { HandshakeFailure, HandshakeOk, HandshakeRequest } from "../handshake/client.ts";
import type { IdentityProvider } from "../identity-provider.ts";
import { type AuthDesired, staleReason } from "./auth-desired.ts";
import { type AuthEntry, type AuthKey, type AuthMapStore, authKeyString, LOCAL_NODE } from "./auth-key.ts";

const FIRST_WORKLOAD_IDENTITY = 256;

export type Authenticate = (
  req: HandshakeRequest,
) => Promise<Result<HandshakeOk, { reason: HandshakeFailure; message: string }>>;

export interface AuthManagerEvents {
  onRequired?(): void;
  onSkipped?(
    reason: "reserved-identity" | "unsupported-auth-type" | "fresh" | "in-flight" | "back-off",
  ): void;
  onHandshake?(result: "ok" | HandshakeFailure, durationMs: number): void;
  onGc?(reason: string): void;
}

export interface AuthManagerOptions {
  readonly provider: IdentityProvider;
  readonly store: AuthMapStore;
  readonly authenticate: Authenticate;
  /** The handshake port of every agent. */
  readonly port: number;
  /** Where this node's own handshake server answers (for pairs of local pods). */
  readonly localAddress: string;
  readonly now?: () => number;
  /** Re-authenticate this long before expiry (at most a third of the entry's lifetime). */
  readonly reauthMarginMs?: number;
  readonly retryMinMs?: number;
  readonly retryMaxMs?: number;
  readonly gcIntervalMs?: number;
  readonly events?: AuthManagerEvents;
  readonly logger?: {
    info(o: object, m: string): void;
    warn(o: object, m: string): void;
    debug(o: object, m: string): void;
  };
}

export interface AuthEntryStatus extends AuthEntry {
  readonly lastHandshake?: { readonly time: string; readonly result: string; readonly message?: string };
}

interface KeyState {
  key: AuthKey;
  inFlight?: Promise<void>;
  failures: number;
  retryAt: number;
  reauth?: NodeJS.Timeout;
  last?: { time: string; result: string; message?: string };
}

export class AuthManager {
  readonly #o: AuthManagerOptions;
  readonly #now: () => number;
  readonly #keys = new Map<string, KeyState>();
  #desired: AuthDesired | undefined;
  #gcTimer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => void) | undefined;
  #stopped = false;

  constructor(options: AuthManagerOptions) {
    this.#o = options;
    this.#now = options.now ?? Date.now;
  }

  start(): void {
    this.#unsubscribe = this.#o.provider.onRotate((what) => this.#rotated(what));
    this.#gcTimer = setInterval(() => this.gc(), this.#o.gcIntervalMs ?? 10_000);
    this.#gcTimer.unref();
    // Entries a previous agent left: keep them and their schedule.
    for (const e of this.#o.store.list()) this.#schedule(this.#state(e.key), e.expires.getTime());
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#unsubscribe?.();
    clearInterval(this.#gcTimer);
    for (const s of this.#keys.values()) clearTimeout(s.reauth);
    await Promise.all([...this.#keys.values()].map((s) => s.inFlight));
  }

  /** The desired state changed: the provider learns the local identities, stale entries go. */
  setDesired(desired: AuthDesired): void {
    this.#desired = desired;
    this.#o.provider.setIdentities(desired.localIdentities);
    this.gc();
  }

  /** One auth-required event from the datapath (auth type as in bpf/lib/auth.h). */
  handleAuthRequired(ev: {
    readonly localIdentity: number;
    readonly remoteIdentity: number;
    readonly remoteNode: string;
    readonly authType: number;
  }): void {
    this.#o.events?.onRequired?.();
    const skip = this.#skipReason(ev);
    if (skip !== undefined) this.#o.events?.onSkipped?.(skip);
  }

  /** Why an event starts no handshake; undefined when it started one. */
  #skipReason(ev: {
    readonly localIdentity: number;
    readonly remoteIdentity: number;
    readonly remoteNode: string;
    readonly authType: number;
  }): "reserved-identity" | "unsupported-auth-type" | "fresh" | "in-flight" | "back-off" | undefined {
    if (ev.authType !== 1) return "unsupported-auth-type"; // always-fail stays failed
    if (ev.localIdentity < FIRST_WORKLOAD_IDENTITY || ev.remoteIdentity < FIRST_WORKLOAD_IDENTITY) {
      return "reserved-identity";
    }
    const key: AuthKey = {
      localIdentity: ev.localIdentity,
      remoteIdentity: ev.remoteIdentity,
      remoteNode: ev.remoteNode,
      authType: "mtls-spiffe",
    };
    const s = this.#state(key);
    if (s.inFlight !== undefined) return "in-flight";
    if (s.retryAt > this.#now()) return "back-off";
    // An event raised just before the entry was written, by a packet already in flight.
    const held = this.#o.store.get(key);
    if (held !== undefined && held.getTime() > this.#now() + 1000) return "fresh";
    void this.#run(s);
    return undefined;
  }

  /** Runs the handshake for a key now (shared by events, re-auth and rotation). */
  #run(s: KeyState): Promise<void> {
    if (s.inFlight !== undefined || this.#stopped) return s.inFlight ?? Promise.resolve();
    const { key } = s;
    const host = key.remoteNode === LOCAL_NODE ? this.#o.localAddress : key.remoteNode;
    s.inFlight = (async () => {
      const r = await this.#o.authenticate({
        localIdentity: key.localIdentity,
        remoteIdentity: key.remoteIdentity,
        host,
        port: this.#o.port,
      });
      const time = new Date(this.#now()).toISOString();
      if (r.ok) {
        this.#o.events?.onHandshake?.("ok", r.value.durationMs);
        // A key garbage-collected while its handshake ran stays out.
        if (this.#desired !== undefined && staleReason(this.#desired, key) !== undefined) return;
        if (!this.#o.store.upsert(key, r.value.expires)) {
          s.last = { time, result: "map-full" };
          this.#o.logger?.warn({ key }, "auth map refused the entry (full?): the flow stays blocked");
          return;
        }
        s.failures = 0;
        s.retryAt = 0;
        s.last = { time, result: "ok" };
        this.#o.logger?.info(
          { key, expires: r.value.expires.toISOString(), ms: r.value.durationMs },
          "authenticated",
        );
        this.#schedule(s, r.value.expires.getTime());
      } else {
        this.#o.events?.onHandshake?.(r.error.reason, 0);
        s.failures++;
        const delay = Math.min(
          this.#o.retryMaxMs ?? 30_000,
          (this.#o.retryMinMs ?? 500) * 2 ** Math.min(s.failures - 1, 10),
        );
        s.retryAt = this.#now() + delay;
        s.last = { time, result: r.error.reason, message: r.error.message };
        this.#o.logger?.warn(
          { key, reason: r.error.reason, error: r.error.message, retryInMs: delay },
          "mutual auth failed",
        );
        // A re-auth that failed: try again after the back-off, while the entry still holds.
        if (this.#o.store.get(key) !== undefined) this.#retryLater(s, delay);
      }
    })().finally(() => {
      delete s.inFlight;
    });
    return s.inFlight;
  }

  #retryLater(s: KeyState, delay: number): void {
    clearTimeout(s.reauth);
    s.reauth = setTimeout(() => this.#reauth(s), delay);
    s.reauth.unref();
  }

  #schedule(s: KeyState, expires: number): void {
    clearTimeout(s.reauth);
    const now = this.#now();
    const life = expires - now;
    const margin = Math.min(this.#o.reauthMarginMs ?? 30_000, life / 3);
    s.reauth = setTimeout(() => this.#reauth(s), Math.max(0, life - margin));
    s.reauth.unref();
  }

  #reauth(s: KeyState): void {
    if (this.#desired !== undefined && staleReason(this.#desired, s.key) !== undefined) {
      this.gc();
      return;
    }
    void this.#run(s);
  }

  #rotated(what: number | "bundle"): void {
    for (const e of this.#o.store.list()) {
      if (what !== "bundle" && e.key.localIdentity !== what) continue;
      if (what !== "bundle" && this.#o.provider.svidFor(what) === undefined) continue; // removed: entries hold until expiry
      void this.#run(this.#state(e.key));
    }
  }

  #state(key: AuthKey): KeyState {
    const k = authKeyString(key);
    let s = this.#keys.get(k);
    if (s === undefined) {
      s = { key, failures: 0, retryAt: 0 };
      this.#keys.set(k, s);
    }
    return s;
  }

  /** Deletes expired entries and, once a desired state is known, the ones it no longer needs. */
  gc(): void {
    const now = this.#now();
    const live = new Set<string>();
    for (const e of this.#o.store.list()) {
      const k = authKeyString(e.key);
      const reason =
        e.expires.getTime() <= now
          ? "expired"
          : this.#desired === undefined
            ? undefined
            : staleReason(this.#desired, e.key);
      if (reason === undefined) {
        live.add(k);
        continue;
      }
      this.#o.store.delete(e.key);
      this.#o.events?.onGc?.(reason);
      this.#o.logger?.debug({ key: e.key, reason }, "auth entry removed");
    }
    for (const [k, s] of this.#keys) {
      if (live.has(k) || s.inFlight !== undefined) continue;
      if (this.#desired !== undefined && staleReason(this.#desired, s.key) === undefined && s.retryAt > now)
        continue;
      clearTimeout(s.reauth);
      this.#keys.delete(k);
    }
  }

  /** The entries with their last handshake, for the agent API. */
  entries(): AuthEntryStatus[] {
    return this.#o.store
      .list()
      .map((e) => {
        const last = this.#keys.get(authKeyString(e.key))?.last;
        return { ...e, ...(last === undefined ? {} : { lastHandshake: last }) };
      })
      .sort((a, b) => authKeyString(a.key).localeCompare(authKeyString(b.key)));
  }

  /** Keys whose last handshake failed, with why (for the API and `strait observe`). */
  failures(): { key: AuthKey; last: { time: string; result: string; message?: string } }[] {
    return [...this.#keys.values()].flatMap((s) =>
      s.last !== undefined && s.last.result !== "ok" ? [{ key: s.key, last: s.last }] : [],
    );
  }
}
