/**
 * Incremental translation: results of the expensive steps are kept between
 * passes and reused while their inputs are unchanged, so one changed route
 * re-translates that route and its Gateway, not all 5,000.
 *
 * "Unchanged" is decided by identity, which the store guarantees: an object
 * is replaced on every change, and `list`/`byIndex` return the same array
 * until something in it changes. A cached result records every read it made
 * through a tracking view, and the revision of every kind it read. It is
 * reused when none of those kinds changed since (one comparison per kind),
 * or else when replaying its reads on the current view returns the very same
 * objects. The cache is explicit state passed in by the caller (the
 * controller keeps one); without it every pass starts fresh. Either way the
 * output is the same: this is memoization only.
 */
import { INDEXES, type IndexedObject, type IndexName } from "../resources/indexes.ts";
import type { KindName } from "../resources/kinds.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";

type Read =
  | {
      readonly op: "get";
      readonly kind: KindName;
      readonly namespace: string;
      readonly name: string;
      readonly result: unknown;
    }
  | {
      readonly op: "list";
      readonly kind: KindName;
      readonly namespace: string | undefined;
      readonly result: unknown;
    }
  | { readonly op: "byIndex"; readonly index: IndexName; readonly key: string; readonly result: unknown };

/** A view that records what was read (once per distinct read), to revalidate a cached result later. */
export class TrackingView implements ResourceView {
  readonly reads: Read[] = [];
  readonly kinds = new Set<KindName>();
  readonly #seen = new Set<string>();
  readonly #inner: ResourceView;

  constructor(inner: ResourceView) {
    this.#inner = inner;
  }

  #record(id: string, read: Read): void {
    if (this.#seen.has(id)) return;
    this.#seen.add(id);
    this.reads.push(read);
  }

  get<K extends KindName>(kind: K, namespace: string, name: string): ObjectOf<K> | undefined {
    const result = this.#inner.get(kind, namespace, name);
    this.kinds.add(kind);
    this.#record(`g\u0000${kind}\u0000${namespace}\u0000${name}`, {
      op: "get",
      kind,
      namespace,
      name,
      result,
    });
    return result;
  }

  list<K extends KindName>(kind: K, namespace?: string): readonly ObjectOf<K>[] {
    const result = this.#inner.list(kind, namespace);
    this.kinds.add(kind);
    this.#record(`l\u0000${kind}\u0000${namespace ?? "\u0001"}`, { op: "list", kind, namespace, result });
    return result;
  }

  byIndex<I extends IndexName>(index: I, key: string): readonly IndexedObject<I>[] {
    const result = this.#inner.byIndex(index, key);
    for (const kind of INDEXES[index].kinds) this.kinds.add(kind);
    this.#record(`i\u0000${index}\u0000${key}`, { op: "byIndex", index, key, result });
    return result;
  }

  revision(kind: KindName): number {
    return this.#inner.revision?.(kind) ?? Number.NaN;
  }

  specIdentity<K extends KindName>(kind: K, obj: ObjectOf<K>): object {
    return this.#inner.specIdentity?.(kind, obj) ?? obj;
  }
}

function replayed(view: ResourceView, reads: readonly Read[]): boolean {
  for (const r of reads) {
    const now =
      r.op === "get"
        ? view.get(r.kind, r.namespace, r.name)
        : r.op === "list"
          ? view.list(r.kind, r.namespace)
          : view.byIndex(r.index, r.key);
    if (now !== r.result) return false;
  }
  return true;
}

export interface Memo<T> {
  readonly reads: readonly Read[];
  /** Revision of each kind read, when the view tracks revisions. */
  readonly revisions: readonly (readonly [KindName, number])[];
  /** Other inputs, compared by identity. */
  readonly inputs: readonly unknown[];
  readonly value: T;
}

function unchanged<T>(view: ResourceView, hit: Memo<T>, inputs: readonly unknown[]): boolean {
  if (hit.inputs.length !== inputs.length || !hit.inputs.every((x, i) => x === inputs[i])) return false;
  if (view.revision !== undefined && hit.revisions.every(([kind, rev]) => view.revision?.(kind) === rev))
    return true;
  return replayed(view, hit.reads);
}

/** Returns the cached value if its inputs and reads are unchanged, else computes and caches it. */
export function memoize<K, T>(
  cache: { get(key: K): Memo<T> | undefined; set(key: K, value: Memo<T>): unknown },
  key: K,
  view: ResourceView,
  inputs: readonly unknown[],
  compute: (view: ResourceView) => T,
): T {
  const hit = cache.get(key);
  if (hit !== undefined && unchanged(view, hit, inputs)) return hit.value;
  const tracking = new TrackingView(view);
  const value = compute(tracking);
  const revisions =
    view.revision === undefined
      ? []
      : [...tracking.kinds].map((k) => [k, view.revision?.(k) ?? Number.NaN] as const);
  cache.set(key, { reads: tracking.reads, revisions, inputs, value });
  return value;
}

/** A result reused while a signature string and some identities stay the same. */
export interface SignedEntry<T> {
  readonly signature: string;
  readonly identities: readonly unknown[];
  readonly value: T;
}

export function reuseSigned<T>(
  cache: Map<string, SignedEntry<T>>,
  key: string,
  signature: string,
  identities: readonly unknown[],
  compute: () => T,
): T {
  const hit = cache.get(key);
  if (
    hit !== undefined &&
    hit.signature === signature &&
    hit.identities.length === identities.length &&
    hit.identities.every((x, i) => x === identities[i])
  ) {
    return hit.value;
  }
  const value = compute();
  cache.set(key, { signature, identities, value });
  return value;
}

interface Counted<T> {
  value: T;
  count: number;
}

/**
 * The union of values that many contributors bring (Service backends that
 * routes reference), kept across passes: only contributors that are new or
 * gone since the last pass are counted, so a pass with one changed route costs
 * one route's worth of work. Contributors are told apart by identity (a
 * changed route is a new translation object). A value a new contributor
 * brings replaces the kept one unless `same` says they are equal, so an
 * unchanged backend keeps its identity and the sorted union stays the same
 * array: later stages then reuse what they built from it.
 */
export class RefCountedUnion<C extends object, T> {
  readonly #keyOf: (value: T) => string;
  readonly #valuesOf: (contributor: C) => readonly T[];
  readonly #same: (a: T, b: T) => boolean;
  #contributors: ReadonlySet<C> = new Set<C>();
  readonly #counts = new Map<string, Counted<T>>();
  #sortedKeys: string[] = [];
  #sorted: readonly T[] = [];

  constructor(
    keyOf: (value: T) => string,
    valuesOf: (contributor: C) => readonly T[],
    same: (a: T, b: T) => boolean,
  ) {
    this.#keyOf = keyOf;
    this.#valuesOf = valuesOf;
    this.#same = same;
  }

  /** Replaces the contributors (the caller must not change the set afterwards) and returns the union, sorted by key. */
  update(contributors: ReadonlySet<C>): readonly T[] {
    let keysChanged = false;
    let valuesChanged = false;
    // New contributors first, so a value that a changed route still brings never drops to zero.
    for (const c of contributors) {
      if (this.#contributors.has(c)) continue;
      for (const v of this.#valuesOf(c)) {
        const key = this.#keyOf(v);
        const entry = this.#counts.get(key);
        if (entry === undefined) {
          this.#counts.set(key, { value: v, count: 1 });
          keysChanged = true;
          continue;
        }
        entry.count++;
        if (entry.value !== v && !this.#same(entry.value, v)) {
          entry.value = v;
          valuesChanged = true;
        }
      }
    }
    for (const c of this.#contributors) {
      if (contributors.has(c)) continue;
      for (const v of this.#valuesOf(c)) {
        const key = this.#keyOf(v);
        const entry = this.#counts.get(key);
        if (entry === undefined) continue;
        entry.count--;
        if (entry.count === 0) {
          this.#counts.delete(key);
          keysChanged = true;
        }
      }
    }
    this.#contributors = contributors;
    if (keysChanged) this.#sortedKeys = [...this.#counts.keys()].sort();
    if (keysChanged || valuesChanged)
      this.#sorted = this.#sortedKeys.map((k) => this.#counts.get(k)?.value as T);
    return this.#sorted;
  }

  /** The kept value under a key, if some contributor brings it. */
  get(key: string): T | undefined {
    return this.#counts.get(key)?.value;
  }
}
