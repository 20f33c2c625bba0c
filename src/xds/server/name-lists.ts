/**
 * Subscribed name lists, shared between streams. A fleet of Envoys
 * subscribes to the same thousands of endpoint names; one sorted array per
 * distinct list (found by the hash of its content) instead of one per
 * stream keeps an idle client's memory small. Lists are immutable: a
 * subscription change makes (or finds) another list. A list no stream uses
 * any more is garbage-collected, and its pool entry with it.
 */
import { createHash } from "node:crypto";

export interface NameList {
  /** Sorted, without duplicates. */
  readonly names: readonly string[];
  /** SHA-256 of the names: the list's identity in the pool and in versions. */
  readonly hash: string;
  /** Whether the names are the snapshot's own strings (not copies decoded from a request). */
  readonly interned: boolean;
}

export const EMPTY_NAME_LIST: NameList = { names: [], hash: "", interned: true };

const pool = new Map<string, WeakRef<NameList>>();
const registry = new FinalizationRegistry<string>((hash) => {
  if (pool.get(hash)?.deref() === undefined) pool.delete(hash);
});

function pooled(list: NameList): NameList {
  pool.set(list.hash, new WeakRef(list));
  registry.register(list, list.hash);
  return list;
}

/** The shared list of these names (sorted, unique). */
export function nameList(sorted: readonly string[]): NameList {
  if (sorted.length === 0) return EMPTY_NAME_LIST;
  const hash = createHash("sha256").update(sorted.join("\0")).digest("base64");
  return pool.get(hash)?.deref() ?? pooled({ names: sorted, hash, interned: false });
}

/** The same list with the snapshot's strings (`intern` maps a name to the snapshot's copy). */
export function internedNameList(list: NameList, intern: (name: string) => string): NameList {
  if (list.interned) return list;
  const current = pool.get(list.hash)?.deref();
  if (current?.interned === true) return current;
  return pooled({ names: list.names.map(intern), hash: list.hash, interned: true });
}
