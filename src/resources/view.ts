/**
 * The read-only view of the cluster's objects that the pure stages take as
 * input. The store implements it; tests can build one from a list of objects.
 * Lists are in a stable order (namespace, then name), so translation output is
 * deterministic.
 */
import type { IndexedObject, IndexName } from "./indexes.ts";
import type { KindName } from "./kinds.ts";
import type { ObjectOf } from "./objects.ts";

export interface ResourceView {
  get<K extends KindName>(kind: K, namespace: string, name: string): ObjectOf<K> | undefined;
  /** Every object of a kind, or of a kind in one namespace; sorted by namespace then name. */
  list<K extends KindName>(kind: K, namespace?: string): readonly ObjectOf<K>[];
  /** Objects found under `key` in a secondary index; sorted by kind, namespace, name. */
  byIndex<I extends IndexName>(index: I, key: string): readonly IndexedObject<I>[];
  /**
   * A number that changes whenever an object of the kind changes (optional):
   * lets a cache skip revalidating reads of kinds that did not change at all.
   */
  revision?(kind: KindName): number;
  /**
   * A token shared by every version of an object that differs only in status
   * (optional; the object itself otherwise): lets a cache of spec-only work
   * survive status writes.
   */
  specIdentity?<K extends KindName>(kind: K, obj: ObjectOf<K>): object;
}
