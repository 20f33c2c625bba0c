/**
 * The typed, indexed store of every object the controller reads. Sources write
 * into it (file source, Kubernetes informers); the pipeline reads it through
 * the ResourceView interface. Writes that change nothing (same content) are
 * dropped here, so they never cause a reconcile.
 */
import { ERROR_CODES, StraitError } from "../errors.ts";
import { INDEXES, type IndexedObject, type IndexName, indexSpec } from "../resources/indexes.ts";
import { KIND_NAMES, type KindName } from "../resources/kinds.ts";
import {
  type AnyStoredObject,
  formatObjectKey,
  type ObjectKey,
  type ObjectOf,
} from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";

export interface StoreChange {
  readonly type: "upsert" | "delete";
  readonly key: ObjectKey;
  /** Only `.status` (and bookkeeping metadata) changed: nothing the pipeline translates. */
  readonly statusOnly?: boolean;
}

export type StoreListener = (change: StoreChange) => void;

const INDEX_NAMES = Object.keys(INDEXES) as IndexName[];

const EMPTY: readonly AnyStoredObject[] = Object.freeze([]);

function nsName(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function compareObjects(a: AnyStoredObject, b: AnyStoredObject): number {
  const an = a.metadata.namespace ?? "";
  const bn = b.metadata.namespace ?? "";
  if (an !== bn) return an < bn ? -1 : 1;
  const a1 = a.metadata.name;
  const b1 = b.metadata.name;
  return a1 < b1 ? -1 : a1 > b1 ? 1 : 0;
}

interface Entry {
  readonly obj: AnyStoredObject;
  /** Serialized content, to tell a real change from a resync. */
  readonly fingerprint: string;
  /** Serialized content without status and resourceVersion, to tell a status-only change. */
  readonly specFingerprint: string;
  readonly indexKeys: ReadonlyMap<IndexName, readonly string[]>;
}

export class ResourceStore implements ResourceView {
  readonly #objects = new Map<KindName, Map<string, Entry>>(KIND_NAMES.map((k) => [k, new Map()]));
  readonly #sorted = new Map<KindName, readonly AnyStoredObject[]>();
  readonly #sortedByNamespace = new Map<KindName, Map<string, readonly AnyStoredObject[]>>();
  readonly #indexes = new Map<IndexName, Map<string, Map<string, AnyStoredObject>>>(
    INDEX_NAMES.map((i) => [i, new Map()]),
  );
  readonly #indexesByKind = new Map<KindName, IndexName[]>();
  readonly #listeners = new Set<StoreListener>();
  readonly #revisions = new Map<KindName, number>();
  /** Stored object → the first stored version with the same spec (see specIdentity). */
  readonly #specTokens = new WeakMap<object, object>();
  /** Sorted index buckets, dropped when the bucket changes. */
  readonly #sortedBuckets = new Map<string, readonly AnyStoredObject[]>();

  constructor() {
    for (const name of INDEX_NAMES) {
      for (const kind of indexSpec(name).kinds) {
        const list = this.#indexesByKind.get(kind) ?? [];
        list.push(name);
        this.#indexesByKind.set(kind, list);
      }
    }
  }

  /** Registers a listener called synchronously on every effective change. */
  subscribe(listener: StoreListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Inserts or replaces an object. Returns false when the content did not change. */
  upsert<K extends KindName>(kind: K, obj: ObjectOf<K>): boolean {
    const namespace = obj.metadata.namespace ?? "";
    const id = nsName(namespace, obj.metadata.name);
    const byId = this.#mapOf(kind);
    const previous = byId.get(id);
    const fingerprint = fingerprintOf(obj);
    if (previous !== undefined && previous.fingerprint === fingerprint) return false;
    const specFingerprint = specFingerprintOf(obj);
    if (previous !== undefined) this.#unindex(kind, id, previous);
    const stored = obj as AnyStoredObject;
    const indexKeys = new Map<IndexName, readonly string[]>();
    for (const index of this.#indexesByKind.get(kind) ?? []) {
      const keys = safeKeys(index, stored);
      indexKeys.set(index, keys);
      const byKey = this.#indexMap(index);
      for (const key of keys) {
        let bucket = byKey.get(key);
        if (bucket === undefined) {
          bucket = new Map();
          byKey.set(key, bucket);
        }
        bucket.set(`${kind}/${id}`, stored);
        this.#sortedBuckets.delete(`${index}\u0000${key}`);
      }
    }
    const statusOnly = previous !== undefined && previous.specFingerprint === specFingerprint;
    this.#specTokens.set(stored, statusOnly ? (this.#specTokens.get(previous.obj) ?? previous.obj) : stored);
    byId.set(id, { obj: stored, fingerprint, specFingerprint, indexKeys });
    if (previous === undefined) this.#invalidate(kind);
    else this.#replaceSorted(kind, previous.obj, stored);
    this.#emit({
      type: "upsert",
      key: { kind, namespace, name: obj.metadata.name },
      ...(statusOnly ? { statusOnly } : {}),
    });
    return true;
  }

  /** Removes an object. Returns false when it was not there. */
  delete(kind: KindName, namespace: string, name: string): boolean {
    const id = nsName(namespace, name);
    const byId = this.#mapOf(kind);
    const previous = byId.get(id);
    if (previous === undefined) return false;
    this.#unindex(kind, id, previous);
    byId.delete(id);
    this.#invalidate(kind);
    this.#emit({ type: "delete", key: { kind, namespace, name } });
    return true;
  }

  /**
   * Makes the stored objects of one kind exactly `objects` (a full re-list):
   * upserts what changed, deletes what is gone. Returns the number of changes.
   */
  replaceKind<K extends KindName>(kind: K, objects: readonly ObjectOf<K>[]): number {
    let changes = 0;
    const keep = new Set<string>();
    for (const obj of objects) {
      keep.add(nsName(obj.metadata.namespace ?? "", obj.metadata.name));
      if (this.upsert(kind, obj)) changes++;
    }
    for (const [id, entry] of [...this.#mapOf(kind)]) {
      if (keep.has(id)) continue;
      if (this.delete(kind, entry.obj.metadata.namespace ?? "", entry.obj.metadata.name)) changes++;
    }
    return changes;
  }

  get<K extends KindName>(kind: K, namespace: string, name: string): ObjectOf<K> | undefined {
    return this.#mapOf(kind).get(nsName(namespace, name))?.obj as ObjectOf<K> | undefined;
  }

  list<K extends KindName>(kind: K, namespace?: string): readonly ObjectOf<K>[] {
    let all = this.#sorted.get(kind);
    if (all === undefined) {
      all = [...this.#mapOf(kind).values()].map((e) => e.obj).sort(compareObjects);
      this.#sorted.set(kind, all);
    }
    if (namespace === undefined) return all as readonly ObjectOf<K>[];
    let byNs = this.#sortedByNamespace.get(kind);
    if (byNs === undefined) {
      byNs = new Map();
      for (const obj of all) {
        const ns = obj.metadata.namespace ?? "";
        const list = byNs.get(ns) as AnyStoredObject[] | undefined;
        if (list === undefined) byNs.set(ns, [obj]);
        else list.push(obj);
      }
      this.#sortedByNamespace.set(kind, byNs);
    }
    return (byNs.get(namespace) ?? EMPTY) as readonly ObjectOf<K>[];
  }

  /**
   * The same array is returned until the bucket changes, so callers (the
   * translation cache) can tell "unchanged" by identity.
   */
  byIndex<I extends IndexName>(index: I, key: string): readonly IndexedObject<I>[] {
    const cacheKey = `${index}\u0000${key}`;
    const cached = this.#sortedBuckets.get(cacheKey);
    if (cached !== undefined) return cached as readonly IndexedObject<I>[];
    const bucket = this.#indexMap(index).get(key);
    if (bucket === undefined) return EMPTY as readonly IndexedObject<I>[];
    const sorted = [...bucket.entries()]
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, obj]) => obj);
    this.#sortedBuckets.set(cacheKey, sorted);
    return sorted as unknown as readonly IndexedObject<I>[];
  }

  /** Number of stored objects of each kind. */
  counts(): Record<KindName, number> {
    const out = {} as Record<KindName, number>;
    for (const kind of KIND_NAMES) out[kind] = this.#mapOf(kind).size;
    return out;
  }

  keys(kind: KindName): ObjectKey[] {
    return [...this.#mapOf(kind).values()].map((e) => ({
      kind,
      namespace: e.obj.metadata.namespace ?? "",
      name: e.obj.metadata.name,
    }));
  }

  #mapOf(kind: KindName): Map<string, Entry> {
    const map = this.#objects.get(kind);
    if (map === undefined) throw new Error(`store: unknown kind ${kind}`);
    return map;
  }

  #indexMap(index: IndexName): Map<string, Map<string, AnyStoredObject>> {
    const map = this.#indexes.get(index);
    if (map === undefined) throw new Error(`store: unknown index ${index}`);
    return map;
  }

  #unindex(kind: KindName, id: string, entry: Entry): void {
    for (const [index, keys] of entry.indexKeys) {
      const byKey = this.#indexMap(index);
      for (const key of keys) {
        const bucket = byKey.get(key);
        bucket?.delete(`${kind}/${id}`);
        this.#sortedBuckets.delete(`${index}\u0000${key}`);
        if (bucket?.size === 0) byKey.delete(key);
      }
    }
  }

  /**
   * An object replaced in place keeps its position in the sorted lists: the
   * lists are copied with the one element swapped instead of re-sorted, and the
   * per-namespace lists of other namespaces keep their identity.
   */
  #replaceSorted(kind: KindName, previous: AnyStoredObject, next: AnyStoredObject): void {
    const all = this.#sorted.get(kind);
    if (all !== undefined) this.#sorted.set(kind, swapped(all, previous, next));
    const byNs = this.#sortedByNamespace.get(kind);
    const ns = next.metadata.namespace ?? "";
    const list = byNs?.get(ns);
    if (byNs !== undefined && list !== undefined) byNs.set(ns, swapped(list, previous, next));
  }

  #invalidate(kind: KindName): void {
    this.#sorted.delete(kind);
    this.#sortedByNamespace.delete(kind);
  }

  /**
   * The same token for every version of an object that differs only in
   * status: caches of spec-only translations key on it, so the controller's
   * own status writes do not invalidate them.
   */
  specIdentity<K extends KindName>(_kind: K, obj: ObjectOf<K>): object {
    return this.#specTokens.get(obj) ?? obj;
  }

  revision(kind: KindName): number {
    return this.#revisions.get(kind) ?? 0;
  }

  #emit(change: StoreChange): void {
    this.#revisions.set(change.key.kind, (this.#revisions.get(change.key.kind) ?? 0) + 1);
    for (const listener of this.#listeners) listener(change);
  }
}

/** A copy of a sorted list with `previous` (found by binary search) replaced by `next`. */
function swapped(
  list: readonly AnyStoredObject[],
  previous: AnyStoredObject,
  next: AnyStoredObject,
): readonly AnyStoredObject[] {
  let lo = 0;
  let hi = list.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = compareObjects(list[mid] as AnyStoredObject, previous);
    if (c === 0) {
      const copy = list.slice();
      copy[mid] = next;
      return copy;
    }
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  throw new StraitError(ERROR_CODES.INTERNAL, "store: a replaced object was missing from its sorted list");
}

/**
 * Content fingerprint: the object without the fields that change on every
 * write and mean nothing to translation (managedFields).
 */
function fingerprintOf(obj: { metadata: object }): string {
  const { managedFields: _m, ...metadata } = obj.metadata as { managedFields?: unknown };
  return JSON.stringify({ ...obj, metadata });
}

function specFingerprintOf(obj: { metadata: object }): string {
  const {
    managedFields: _m,
    resourceVersion: _r,
    ...metadata
  } = obj.metadata as { managedFields?: unknown; resourceVersion?: unknown };
  const { status: _s, ...rest } = obj as { status?: unknown };
  return JSON.stringify({ ...rest, metadata });
}

/** Index keys of an object; a malformed object that breaks an index function is simply not indexed. */
function safeKeys(index: IndexName, obj: AnyStoredObject): readonly string[] {
  try {
    return indexSpec(index).keysOf(obj);
  } catch {
    return [];
  }
}

export { formatObjectKey };
