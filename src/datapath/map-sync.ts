/**
 * Brings one BPF map to a desired content in two phases, so a reconcile has
 * no window of wrong verdicts: `upsert` writes every new or changed entry
 * (never clearing first), and `prune`, run once every map's upserts are in,
 * deletes the entries the desired state no longer has. It remembers what it
 * wrote, so an unchanged entry costs no syscall on the next reconcile.
 *
 * Writes go in batches (BPF_MAP_UPDATE_BATCH / BPF_MAP_DELETE_BATCH): the
 * changed entries are copied back to back into one keys and one values
 * buffer, one syscall per `batchSize` entries instead of one per entry. The
 * kernel says how many entries of a batch it applied before an error, so
 * what is remembered is exactly what the map holds.
 */
import type { BpfMap } from "./bpf-object.ts";
import type { MapContent } from "./map-entries.ts";
import { ERRNO, errnoName } from "./native.ts";

export interface MapWriteError {
  readonly map: string;
  /** "full" when the map has no room (reported, never truncated silently). */
  readonly kind: "full" | "kernel";
  readonly message: string;
}

/** Entries per batch syscall: big enough that the syscalls stop mattering, small enough to keep the buffers small. */
export const DEFAULT_BATCH_SIZE = 4096;

/**
 * A map type without batch ops fails the whole batch before touching it,
 * with ENOTSUPP (the kernel's own 524; BPF_MAP_*_BATCH exist since 5.6 and
 * not every map type has them), EOPNOTSUPP or EINVAL from older kernels.
 * On this kernel (6.18) the hash maps and the ipcache's LPM trie all have
 * them; the fallback keeps older kernels working, one syscall per entry.
 */
function unsupported(error: number): boolean {
  return error === -ERRNO.ENOTSUPP || error === -ERRNO.EOPNOTSUPP || error === -ERRNO.EINVAL;
}

function writeError(map: BpfMap, rc: number): MapWriteError {
  const full = rc === -ERRNO.E2BIG || rc === -ERRNO.ENOSPC;
  return {
    map: map.name,
    kind: full ? "full" : "kernel",
    message: full
      ? `${map.name} is full (${map.info.maxEntries} entries)`
      : `${map.name}: update failed: ${errnoName(rc)}`,
  };
}

export class MapSync {
  readonly map: BpfMap;
  readonly batchSize: number;
  /**
   * Key bytes → value bytes (both as latin1 strings, one char per byte, as
   * MapContent holds them) of what the kernel holds, as far as this agent knows.
   */
  readonly #current = new Map<string, string>();
  /** False once the kernel has said this map type has no batch ops. */
  #batch = true;
  readonly #keys: Buffer;
  readonly #values: Buffer;
  /** The content keys and values of the entries in #keys / #values. */
  readonly #pendingKeys: string[] = [];
  readonly #pendingValues: string[] = [];

  constructor(map: BpfMap, options: { readonly batchSize?: number } = {}) {
    this.map = map;
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
    this.#keys = Buffer.alloc(this.batchSize * map.info.keySize);
    this.#values = Buffer.alloc(this.batchSize * map.info.valueSize);
    // Adopt what a previous agent left pinned: the first reconcile diffs against it.
    for (const key of map.keys()) {
      const value = map.lookup(key);
      if (value !== undefined) this.#current.set(key.toString("latin1"), value.toString("latin1"));
    }
  }

  get size(): number {
    return this.#current.size;
  }

  /** Whether writes still go in batches (false after the kernel refused them for this map). */
  get batching(): boolean {
    return this.#batch;
  }

  /** Entries the map would hold after upsert (before prune): for the capacity check. */
  sizeDuringUpdate(desired: MapContent): number {
    let extra = 0;
    for (const key of desired.keys()) if (!this.#current.has(key)) extra++;
    return this.#current.size + extra;
  }

  upsert(desired: MapContent): { written: number; error?: MapWriteError } {
    const { keySize, valueSize } = this.map.info;
    let written = 0;
    for (const [key, value] of desired) {
      if (this.#current.get(key) === value) continue;
      const n = this.#pendingKeys.length;
      this.#keys.write(key, n * keySize, keySize, "latin1");
      this.#values.write(value, n * valueSize, valueSize, "latin1");
      this.#pendingKeys.push(key);
      this.#pendingValues.push(value);
      if (n + 1 === this.batchSize) {
        const r = this.#flushUpdates();
        written += r.written;
        if (r.error !== undefined) return { written, error: r.error };
      }
    }
    const r = this.#flushUpdates();
    written += r.written;
    return r.error === undefined ? { written } : { written, error: r.error };
  }

  prune(desired: MapContent): number {
    const { keySize } = this.map.info;
    let deleted = 0;
    // Deleting an entry already visited is safe while iterating a Map.
    for (const key of this.#current.keys()) {
      if (desired.has(key)) continue;
      this.#keys.write(key, this.#pendingKeys.length * keySize, keySize, "latin1");
      this.#pendingKeys.push(key);
      if (this.#pendingKeys.length === this.batchSize) deleted += this.#flushDeletes();
    }
    return deleted + this.#flushDeletes();
  }

  /** Writes the pending entries; remembers exactly those the kernel applied. */
  #flushUpdates(): { written: number; error?: MapWriteError } {
    const n = this.#pendingKeys.length;
    let done = 0;
    let error: MapWriteError | undefined;
    if (n > 0 && this.#batch) {
      const r = this.map.updateBatch(this.#keys, this.#values, n);
      if (r.error === 0) done = n;
      else if (r.count === n && unsupported(r.error))
        this.#batch = false; // refused whole: per entry below
      else {
        done = r.count;
        error = writeError(this.map, r.error);
      }
    }
    if (!this.#batch) {
      const { keySize, valueSize } = this.map.info;
      for (; done < n; done++) {
        const rc = this.map.update(
          this.#keys.subarray(done * keySize, (done + 1) * keySize),
          this.#values.subarray(done * valueSize, (done + 1) * valueSize),
        );
        if (rc < 0) {
          error = writeError(this.map, rc);
          break;
        }
      }
    }
    for (let i = 0; i < done; i++)
      this.#current.set(this.#pendingKeys[i] ?? "", this.#pendingValues[i] ?? "");
    this.#pendingKeys.length = 0;
    this.#pendingValues.length = 0;
    return error === undefined ? { written: done } : { written: done, error };
  }

  /**
   * Deletes the pending keys. An absent key (deleted behind the agent's back)
   * counts as deleted; a key the kernel refuses to delete stays remembered,
   * so the next reconcile tries again.
   */
  #flushDeletes(): number {
    const { keySize } = this.map.info;
    const n = this.#pendingKeys.length;
    let deleted = 0;
    const forget = (i: number) => {
      this.#current.delete(this.#pendingKeys[i] ?? "");
      deleted++;
    };
    let next = 0;
    while (next < n && this.#batch) {
      const r = this.map.deleteBatch(this.#keys.subarray(next * keySize), n - next);
      if (r.error === 0) {
        for (; next < n; next++) forget(next);
      } else if (r.count === n - next && unsupported(r.error)) {
        this.#batch = false;
      } else {
        for (const end = next + r.count; next < end; next++) forget(next);
        // The kernel stopped at `next`: gone already (ENOENT) or refused; either way, go on after it.
        if (r.error === -ERRNO.ENOENT) forget(next);
        next++;
      }
    }
    for (; next < n; next++) {
      const rc = this.map.delete(this.#keys.subarray(next * keySize, (next + 1) * keySize));
      if (rc === 0 || rc === -ERRNO.ENOENT) forget(next);
    }
    this.#pendingKeys.length = 0;
    return deleted;
  }
}
