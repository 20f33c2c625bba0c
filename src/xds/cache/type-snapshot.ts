/**
 * The resources of one type in one snapshot: encoded, versioned, immutable.
 * Streams keep a reference to the TypeSnapshot a client was last brought up
 * to, so an idle client costs a pointer per type, and the difference between
 * two snapshots is computed once for every client that moves between them.
 */
import { combinedVersion } from "./versions.ts";

export interface ResourceEntry {
  readonly name: string;
  /** Content hash of `bytes`. */
  readonly version: string;
  /** The resource, protobuf-encoded (the value of its Any). */
  readonly bytes: Uint8Array;
  /**
   * Part of what a wildcard subscription ("*") gets. Resources made on demand
   * for a named subscription (proxyless gRPC listeners) are not, so an Envoy
   * subscribing to every listener does not receive API listeners.
   */
  readonly wildcard: boolean;
}

function byName(a: ResourceEntry, b: ResourceEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

let nextId = 1;

export class TypeSnapshot {
  /** Unique in this process: lets memo keys name a snapshot. */
  readonly id = nextId++;
  readonly typeUrl: string;
  /** Hash of every (name, version, wildcard) of the type, in name order. */
  readonly version: string;
  readonly entries: ReadonlyMap<string, ResourceEntry>;
  #wildcardEntries: readonly ResourceEntry[] | undefined;
  #allNames: readonly string[] | undefined;
  /** Names that differ from a base snapshot, by base (computed once per pair). */
  readonly #changedSince = new WeakMap<TypeSnapshot, readonly string[]>();

  private constructor(typeUrl: string, entries: ReadonlyMap<string, ResourceEntry>, version: string) {
    this.typeUrl = typeUrl;
    this.entries = entries;
    this.version = version;
  }

  static of(typeUrl: string, entries: Iterable<ResourceEntry>): TypeSnapshot {
    const sorted = [...entries].sort(byName);
    const map = new Map<string, ResourceEntry>();
    const parts: string[] = [typeUrl];
    for (const e of sorted) {
      map.set(e.name, e);
      parts.push(e.name, e.version, e.wildcard ? "*" : "");
    }
    return new TypeSnapshot(typeUrl, map, combinedVersion(parts));
  }

  get(name: string): ResourceEntry | undefined {
    return this.entries.get(name);
  }

  get size(): number {
    return this.entries.size;
  }

  /** What a wildcard subscription gets, in name order. */
  wildcardEntries(): readonly ResourceEntry[] {
    this.#wildcardEntries ??= [...this.entries.values()].filter((e) => e.wildcard);
    return this.#wildcardEntries;
  }

  /**
   * Names whose entry differs between `base` and this snapshot (added,
   * removed, new version, or visibility to wildcard changed). Without a base,
   * every name.
   */
  changedSince(base: TypeSnapshot | undefined): readonly string[] {
    if (base === undefined) {
      this.#allNames ??= [...this.entries.keys()];
      return this.#allNames;
    }
    if (base === this) return [];
    let changed = this.#changedSince.get(base);
    if (changed === undefined) {
      const names: string[] = [];
      for (const [name, entry] of this.entries) {
        const old = base.entries.get(name);
        if (old === undefined || old.version !== entry.version || old.wildcard !== entry.wildcard)
          names.push(name);
      }
      for (const name of base.entries.keys()) if (!this.entries.has(name)) names.push(name);
      changed = names;
      this.#changedSince.set(base, changed);
    }
    return changed;
  }
}

const EMPTY = new Map<string, TypeSnapshot>();
/** Type URLs come from clients too: a bound keeps made-up ones from growing this table. */
const MAX_EMPTY_TYPES = 256;

/**
 * The empty snapshot of a type, shared (identity lets a stream skip an
 * unchanged type with one comparison).
 */
export function emptyTypeSnapshot(typeUrl: string): TypeSnapshot {
  let empty = EMPTY.get(typeUrl);
  if (empty === undefined) {
    empty = TypeSnapshot.of(typeUrl, []);
    if (EMPTY.size < MAX_EMPTY_TYPES) EMPTY.set(typeUrl, empty);
  }
  return empty;
}

const MERGED = new WeakMap<TypeSnapshot, WeakMap<TypeSnapshot, TypeSnapshot>>();

/**
 * One type of two layers: every entry of `primary`, then the entries of
 * `secondary` whose names `primary` does not have. Memoized, so the same two
 * layers always give the same object.
 */
export function mergeTypeSnapshots(primary: TypeSnapshot, secondary: TypeSnapshot): TypeSnapshot {
  if (secondary.size === 0) return primary;
  if (primary.size === 0) return secondary;
  let bySecondary = MERGED.get(primary);
  if (bySecondary === undefined) {
    bySecondary = new WeakMap();
    MERGED.set(primary, bySecondary);
  }
  let merged = bySecondary.get(secondary);
  if (merged === undefined) {
    const entries = [...primary.entries.values()];
    for (const [name, entry] of secondary.entries) if (!primary.entries.has(name)) entries.push(entry);
    merged = TypeSnapshot.of(primary.typeUrl, entries);
    bySecondary.set(secondary, merged);
  }
  return merged;
}
