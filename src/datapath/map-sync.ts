/**
 * Brings one BPF map to a desired content in two phases, so a reconcile has
 * no window of wrong verdicts: `upsert` writes every new or changed entry
 * (never clearing first), and `prune`, run once every map's upserts are in,
 * deletes the entries the desired state no longer has. It remembers what it
 * wrote, so an unchanged entry costs no syscall on the next reconcile.
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

export class MapSync {
  readonly map: BpfMap;
  /** key hex → value hex of what the kernel holds, as far as this agent knows. */
  readonly #current = new Map<string, string>();

  constructor(map: BpfMap) {
    this.map = map;
    // Adopt what a previous agent left pinned: the first reconcile diffs against it.
    for (const key of map.keys()) {
      const value = map.lookup(key);
      if (value !== undefined) this.#current.set(key.toString("hex"), value.toString("hex"));
    }
  }

  get size(): number {
    return this.#current.size;
  }

  /** Entries the map would hold after upsert (before prune): for the capacity check. */
  sizeDuringUpdate(desired: MapContent): number {
    let extra = 0;
    for (const hex of desired.keys()) if (!this.#current.has(hex)) extra++;
    return this.#current.size + extra;
  }

  upsert(desired: MapContent): { written: number; error?: MapWriteError } {
    let written = 0;
    for (const [hex, entry] of desired) {
      const valueHex = entry.value.toString("hex");
      if (this.#current.get(hex) === valueHex) continue;
      const rc = this.map.update(entry.key, entry.value);
      if (rc < 0) {
        const full = rc === -ERRNO.E2BIG || rc === -ERRNO.ENOSPC;
        return {
          written,
          error: {
            map: this.map.name,
            kind: full ? "full" : "kernel",
            message: full
              ? `${this.map.name} is full (${this.map.info.maxEntries} entries)`
              : `${this.map.name}: update failed: ${errnoName(rc)}`,
          },
        };
      }
      this.#current.set(hex, valueHex);
      written++;
    }
    return { written };
  }

  prune(desired: MapContent): number {
    let deleted = 0;
    for (const hex of [...this.#current.keys()]) {
      if (desired.has(hex)) continue;
      const rc = this.map.delete(Buffer.from(hex, "hex"));
      if (rc === 0 || rc === -ERRNO.ENOENT) {
        this.#current.delete(hex);
        deleted++;
      }
    }
    return deleted;
  }
}
