/**
 * One resource type on one stream: what the client subscribes to, what it
 * has (as far as strait sent it), and what to send it next. Shared by the
 * state-of-the-world and incremental variants; the protocol rules it follows
 * are the xDS protocol's ("How the client specifies what resources to
 * return", "Deleting Resources", "Eventual consistency considerations").
 *
 * What the client has is kept as a reference to the TypeSnapshot it was last
 * brought up to (`base`), plus, only while they matter, exceptions: versions
 * a reconnecting delta client reports (`initial_resource_versions`), names it
 * must be sent even if unchanged (new subscriptions), and removed resources
 * whose removal waits until everything else was pushed ("make before break").
 * An idle client in sync costs a few pointers per type.
 *
 * A resource sent is a resource the client has, whether it ACKs or NACKs it:
 * a NACKed version is never sent again, only a newer one.
 */
import { hash } from "node:crypto";
import type { XdsTypeInfo } from "../cache/resource-types.ts";
import type { ResourceEntry, TypeSnapshot } from "../cache/type-snapshot.ts";
import { combinedVersion } from "../cache/versions.ts";
import { EMPTY_NAME_LIST, internedNameList, type NameList, nameList } from "./name-lists.ts";

export const WILDCARD = "*";

/** What to send for one type now. */
export interface TypeUpdate {
  /** SotW LDS/CDS: every subscribed resource; otherwise the new and changed ones. */
  readonly resources: readonly ResourceEntry[];
  /** Delta: names for `removed_resources`. */
  readonly removed: readonly string[];
  /** SotW `version_info` / delta `system_version_info`. */
  readonly version: string;
  /** Set when `resources` is exactly the snapshot's wildcard set (its bytes are shared). */
  readonly wildcardOf?: TypeSnapshot;
  /** The snapshot the update brings the client to. */
  readonly snapshot: TypeSnapshot;
  /**
   * Set when the update depends only on the snapshot, the client's previous
   * snapshot and its subscription: every client with the same key gets the
   * very same response, which is then encoded once.
   */
  readonly shareKey?: string;
}

export interface SubscriptionChange {
  readonly added: readonly string[];
  readonly removed: readonly string[];
}

const NONE: SubscriptionChange = { added: [], removed: [] };

/** A digest of the names in order: equal lists, equal digests (one native call, for thousands of names). */
function fingerprintOf(names: readonly string[]): string {
  return hash("sha1", names.join("\0"), "base64");
}

function indexOfSorted(list: readonly string[], name: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const m = list[mid] as string;
    if (m === name) return mid;
    if (m < name) lo = mid + 1;
    else hi = mid;
  }
  return -1;
}

export class TypeState {
  readonly info: XdsTypeInfo;
  #wildcard = false;
  /** SotW: once a request named resources, an empty list no longer means wildcard. */
  #everNamed = false;
  /** Explicitly subscribed names, sorted, shared with every stream that names the same (name-lists.ts). */
  #names: NameList = EMPTY_NAME_LIST;
  #requested = false;
  #base: TypeSnapshot | undefined;
  #overrides: Map<string, string> | undefined;
  #forced: Set<string> | undefined;
  /** Removed resources the client still has, until the removal is sent (entry kept for SotW resends). */
  #retained: Map<string, ResourceEntry | undefined> | undefined;
  #mustRespond = false;
  /** SotW reconnect: the version the client says it has, checked against the first snapshot. */
  #reportedVersion: string | undefined;
  #versionMemo: { snapshot: TypeSnapshot; names: NameList; version: string } | undefined;
  /** Hash of the subscription (wildcard and names), computed once per change of it. */
  #subscriptionKey: { names: NameList; wildcard: boolean; key: string } | undefined;
  /** Fingerprint of the last SotW request's name list, in its order: an identical list needs no work. */
  #lastRequest: { length: number; fingerprint: string } | undefined;

  constructor(info: XdsTypeInfo) {
    this.info = info;
  }

  get typeUrl(): string {
    return this.info.typeUrl;
  }

  get wildcard(): boolean {
    return this.#wildcard;
  }

  get names(): readonly string[] {
    return this.#names.names;
  }

  /** Whether the client asked for this type at all. */
  get requested(): boolean {
    return this.#requested;
  }

  /** Subscribed names, counting the wildcard as one. */
  get subscriptionCount(): number {
    return this.#names.names.length + (this.#wildcard ? 1 : 0);
  }

  // ---- subscriptions ----

  /** SotW: the full list of a request replaces the subscription. */
  setSotwNames(requested: readonly string[]): SubscriptionChange {
    const first = !this.#requested;
    this.#requested = true;
    if (first && (this.info.fullStateInSotw || !this.info.known)) this.#mustRespond = true;
    let wildcard: boolean;
    let names: readonly string[];
    if (requested.length === 0 && !this.#everNamed) {
      // Legacy wildcard: a client that never named a resource of an LDS/CDS type wants all of them.
      wildcard = this.info.wildcard;
      names = [];
    } else {
      this.#everNamed = true;
      const star = this.info.wildcard && requested.includes(WILDCARD);
      wildcard = star;
      names = star ? requested.filter((n) => n !== WILDCARD) : requested;
    }
    // Most requests are ACKs naming the same resources as the last one, in the same order: a
    // fingerprint says so without sorting; otherwise compare as sets. Either way an unchanged
    // subscription keeps its array (and its interned strings).
    const fingerprint = fingerprintOf(requested);
    const repeated =
      this.#lastRequest?.length === requested.length && this.#lastRequest.fingerprint === fingerprint;
    this.#lastRequest = { length: requested.length, fingerprint };
    const change = repeated || this.#sameNames(names) ? NONE : this.#replaceNames([...new Set(names)].sort());
    this.#setWildcard(wildcard);
    return change;
  }

  #sameNames(names: readonly string[]): boolean {
    if (names.length !== this.#names.names.length) return false;
    const seen = new Set<number>();
    for (const name of names) {
      const index = indexOfSorted(this.#names.names, name);
      if (index < 0 || seen.has(index)) return false;
      seen.add(index);
    }
    return true;
  }

  /** SotW: a reconnecting client's `version_info`; nothing is resent if it matches what it would get. */
  setReportedVersion(version: string): void {
    if (version !== "") this.#reportedVersion = version;
  }

  /** Delta: subscribe and unsubscribe lists; the first request may establish the legacy wildcard. */
  applyDelta(subscribe: readonly string[], unsubscribe: readonly string[]): SubscriptionChange {
    const first = !this.#requested;
    this.#requested = true;
    if (first && subscribe.length === 0 && unsubscribe.length === 0 && this.info.wildcard)
      this.#setWildcard(true);
    if (first && (this.info.wildcard || !this.info.known)) this.#mustRespond = true;
    const added = new Set<string>();
    const removed = new Set<string>();
    for (const name of subscribe) {
      if (name === WILDCARD && this.info.wildcard) {
        // Subscribing to "*" again asks for everything again.
        this.#resetKnown();
        this.#wildcard = true;
        continue;
      }
      if (indexOfSorted(this.#names.names, name) < 0) added.add(name);
      // Named again while already subscribed: the protocol says send it anyway (the client may have dropped it).
      this.#force(name);
    }
    for (const name of unsubscribe) {
      if (name === WILDCARD && this.info.wildcard) {
        this.#wildcard = false;
        continue;
      }
      if (added.delete(name)) {
        this.#forced?.delete(name);
        continue;
      }
      // A phantom unsubscription (not subscribed) is ignored, as the protocol allows.
      if (indexOfSorted(this.#names.names, name) < 0) continue;
      removed.add(name);
      // With a wildcard too, the client cannot tell whether to keep it: say so either way.
      if (this.#wildcard) this.#force(name);
    }
    if (added.size > 0 || removed.size > 0) {
      // A new array, sorted once for the whole request (never mutated: its identity versions the subscription).
      this.#names = nameList([...this.#names.names.filter((n) => !removed.has(n)), ...added].sort());
    }
    return added.size === 0 && removed.size === 0 ? NONE : { added: [...added], removed: [...removed] };
  }

  /** Delta reconnect: the versions the client already has. */
  setInitialVersions(versions: ReadonlyMap<string, string>): void {
    if (versions.size === 0) return;
    // A client with resources already is not waiting for a first answer: only differences go out.
    this.#mustRespond = false;
    this.#overrides ??= new Map();
    for (const [name, version] of versions) this.#overrides.set(name, version);
  }

  /** Everything, as on stream end: what to release. */
  allNames(): readonly string[] {
    return this.#names.names;
  }

  #replaceNames(names: string[]): SubscriptionChange {
    const old = this.#names.names;
    const added = names.filter((n) => indexOfSorted(old, n) < 0);
    const removed = old.filter((n) => indexOfSorted(names, n) < 0);
    this.#names = nameList(names);
    for (const name of added) this.#force(name);
    // With a wildcard too, an unsubscribed name may or may not stay: a full-state response settles it.
    if (this.#wildcard) for (const name of removed) this.#force(name);
    return added.length === 0 && removed.length === 0 ? NONE : { added, removed };
  }

  #setWildcard(wildcard: boolean): void {
    if (wildcard && !this.#wildcard) this.#resetKnown();
    this.#wildcard = wildcard;
  }

  /**
   * The client (now) gets more than before: forget what it was sent, except
   * the versions of names it keeps (for removals), and send everything.
   */
  #resetKnown(): void {
    const base = this.#base;
    if (base !== undefined) {
      for (const name of this.#names.names) {
        const version = this.#overrides?.get(name) ?? base.get(name)?.version;
        if (version === undefined) continue;
        this.#overrides ??= new Map();
        this.#overrides.set(name, version);
      }
    }
    this.#base = undefined;
  }

  #force(name: string): void {
    this.#forced ??= new Set();
    this.#forced.add(name);
  }

  #named(name: string): boolean {
    return indexOfSorted(this.#names.names, name) >= 0;
  }

  #visible(entry: ResourceEntry | undefined, name: string): entry is ResourceEntry {
    return entry !== undefined && ((this.#wildcard && entry.wildcard) || this.#named(name));
  }

  /** The version of `name` the client has, as far as strait knows. */
  #known(name: string): string | undefined {
    const retained = this.#retained?.get(name);
    if (retained !== undefined) return retained.version;
    if (this.#overrides?.has(name)) return this.#overrides.get(name);
    const entry = this.#base?.get(name);
    return this.#visible(entry, name) ? entry.version : undefined;
  }

  // ---- what to send ----

  /** SotW version_info: the type's version, plus the subscription unless it is the wildcard alone. */
  sotwVersion(snapshot: TypeSnapshot): string {
    if (this.#names.names.length === 0 && this.#wildcard) return snapshot.version;
    const memo = this.#versionMemo;
    if (memo?.snapshot === snapshot && memo.names === this.#names) return memo.version;
    const version = combinedVersion([snapshot.version, this.#subscriptionHash()]);
    this.#versionMemo = { snapshot, names: this.#names, version };
    return version;
  }

  /**
   * New and changed resources for `snapshot`, or undefined when the client is
   * up to date. Takes the changes: the caller must send what it returns.
   * Removals are kept back until `takeRemovals`.
   */
  takeUpdate(snapshot: TypeSnapshot, mode: "sotw" | "delta"): TypeUpdate | undefined {
    if (!this.#requested) return undefined;
    if (this.#reportedVersion !== undefined) {
      // Only on the first snapshot after the first request: the reconnecting client already has it all.
      if (mode === "sotw" && this.#reportedVersion === this.sotwVersion(snapshot)) {
        this.#base = snapshot;
        this.#mustRespond = false;
        this.#forced = undefined;
      }
      this.#reportedVersion = undefined;
    }
    if (
      this.#base === snapshot &&
      this.#overrides === undefined &&
      this.#forced === undefined &&
      !this.#mustRespond
    ) {
      return undefined;
    }
    if (this.#base === undefined && !this.#names.interned) {
      // Share the snapshot's name strings instead of keeping the ones decoded from the request.
      this.#names = internedNameList(this.#names, (n) => snapshot.get(n)?.name ?? n);
    }
    const upserts: ResourceEntry[] = [];
    const removals: string[] = [];
    const missing: string[] = [];
    const forced = this.#forced;
    for (const name of this.#candidates(snapshot)) {
      const entry = snapshot.get(name);
      const known = this.#known(name);
      if (this.#visible(entry, name)) {
        this.#retained?.delete(name);
        if (forced?.has(name) === true || entry.version !== known) upserts.push(entry);
      } else if (known !== undefined && (this.#wildcard || this.#named(name))) {
        removals.push(name);
      } else if (forced?.has(name) === true) {
        missing.push(name);
      }
    }
    const mustRespond = this.#mustRespond;
    const base = this.#base;
    // Without exceptions, the update is a function of (base, snapshot, subscription): shareable.
    const shareable =
      this.#overrides === undefined &&
      (this.#forced === undefined || base === undefined) &&
      (this.#retained === undefined || this.#retained.size === 0) &&
      removals.length === 0;
    const shareKey = shareable ? `${mode} ${base?.id ?? 0} ${this.#subscriptionHash()}` : undefined;
    this.#base = snapshot;
    this.#overrides = undefined;
    this.#forced = undefined;
    this.#mustRespond = false;
    if (removals.length > 0) {
      this.#retained ??= new Map();
      for (const name of removals) if (!this.#retained.has(name)) this.#retained.set(name, base?.get(name));
    }

    if (mode === "delta") {
      // A named resource that does not exist is said so at once (it is not a removal of anything in use).
      if (upserts.length === 0 && missing.length === 0 && !mustRespond) return undefined;
      return this.#shared(
        { resources: upserts, removed: missing, version: snapshot.version, snapshot },
        shareKey,
      );
    }
    if (!this.info.fullStateInSotw) {
      // RDS, EDS, SDS: only what changed; there is no way to say "removed" (the parent stops naming it).
      this.#retained = undefined;
      // A type strait does not serve gets one empty answer, so the client is not left waiting.
      if (upserts.length === 0 && !(mustRespond && !this.info.known)) return undefined;
      return this.#shared(
        { resources: upserts, removed: [], version: this.sotwVersion(snapshot), snapshot },
        shareKey,
      );
    }
    if (upserts.length === 0 && missing.length === 0 && !mustRespond) return undefined; // only removals: later
    return this.#shared(this.#fullState(snapshot, true), shareKey);
  }

  #shared(update: TypeUpdate, key: string | undefined): TypeUpdate {
    return key === undefined ? update : { ...update, shareKey: key };
  }

  /** Hash of the subscription (wildcard and names), computed once per change of it. */
  #subscriptionHash(): string {
    let sub = this.#subscriptionKey;
    if (sub?.names !== this.#names || sub.wildcard !== this.#wildcard) {
      const key = combinedVersion([this.#wildcard ? WILDCARD : "", this.#names.hash]);
      sub = { names: this.#names, wildcard: this.#wildcard, key };
      this.#subscriptionKey = sub;
    }
    return sub.key;
  }

  /** Deferred removals, once every type is up to date; undefined when there are none. */
  takeRemovals(snapshot: TypeSnapshot, mode: "sotw" | "delta"): TypeUpdate | undefined {
    const retained = this.#retained;
    if (retained === undefined) return undefined;
    this.#retained = undefined;
    const gone = [...retained.keys()].filter((name) => !this.#visible(snapshot.get(name), name));
    if (gone.length === 0) return undefined;
    if (mode === "delta") return { resources: [], removed: gone, version: snapshot.version, snapshot };
    return this.#fullState(snapshot, false);
  }

  /** SotW LDS/CDS: every subscribed resource that exists (and, before removals are due, the retained ones). */
  #fullState(snapshot: TypeSnapshot, keepRetained: boolean): TypeUpdate {
    const retained = keepRetained ? [...(this.#retained?.values() ?? [])].filter((e) => e !== undefined) : [];
    const version =
      retained.length === 0
        ? this.sotwVersion(snapshot)
        : combinedVersion([this.sotwVersion(snapshot), ...retained.map((e) => e.name)]);
    if (this.#names.names.length === 0 && retained.length === 0) {
      const all = this.#wildcard ? snapshot.wildcardEntries() : [];
      return {
        resources: all,
        removed: [],
        version,
        snapshot,
        ...(this.#wildcard ? { wildcardOf: snapshot } : {}),
      };
    }
    const resources = this.#wildcard ? [...snapshot.wildcardEntries()] : [];
    for (const name of this.#names.names) {
      const entry = snapshot.get(name);
      if (entry !== undefined && !(this.#wildcard && entry.wildcard)) resources.push(entry);
    }
    for (const entry of retained) if (!resources.includes(entry)) resources.push(entry);
    return { resources, removed: [], version, snapshot };
  }

  *#candidates(snapshot: TypeSnapshot): Iterable<string> {
    const changed = snapshot.changedSince(this.#base);
    if (this.#overrides === undefined && this.#forced === undefined) {
      yield* changed;
      return;
    }
    const seen = new Set<string>(changed);
    yield* changed;
    for (const name of [...(this.#overrides?.keys() ?? []), ...(this.#forced ?? [])]) {
      if (seen.has(name)) continue;
      seen.add(name);
      yield name;
    }
  }
}
