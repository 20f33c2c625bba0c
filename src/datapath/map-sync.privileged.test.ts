/**
 * Batched map writes against real maps: the addon's batch ops, MapSync's
 * upsert and prune across chunk boundaries, a map filling up mid-batch (the
 * error reported, exactly what the kernel took remembered), and the
 * per-entry fallback for a kernel without batch ops on a map type.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "../../test/support/kernel.ts";
import { BpfMap, type DatapathObject, loadDatapathObject } from "./bpf-object.ts";
import type { MapContent } from "./map-entries.ts";
import { MapSync } from "./map-sync.ts";
import { addon, type BatchResult, ERRNO } from "./native.ts";

/** A policy-map-sized key (12 bytes) or value (4 bytes) whose first 4 bytes are `n`. */
function bytes(size: number, n: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeUInt32LE(n, 0);
  return b;
}

function content(map: BpfMap, entries: readonly (readonly [number, number])[]): MapContent {
  return new Map(
    entries.map(([k, v]) => [
      bytes(map.info.keySize, k).toString("latin1"),
      bytes(map.info.valueSize, v).toString("latin1"),
    ]),
  );
}

/** What the kernel holds: key number → value number. */
function held(map: BpfMap): Map<number, number> {
  const out = new Map<number, number>();
  for (const key of map.keys()) out.set(key.readUInt32LE(0), map.lookup(key)?.readUInt32LE(0) ?? -1);
  return out;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

/** Stands in for a kernel whose map type lacks batch ops: refused whole, `count` left as passed (as libbpf does). */
class NoBatchMap extends BpfMap {
  batchCalls = 0;
  override updateBatch(_keys: Buffer, _values: Buffer, count: number): BatchResult {
    this.batchCalls++;
    return { count, error: -ERRNO.ENOTSUPP };
  }
  override deleteBatch(_keys: Buffer, count: number): BatchResult {
    this.batchCalls++;
    return { count, error: -ERRNO.ENOTSUPP };
  }
}

describe.skipIf(!canRunKernelTests)(`batched map writes on real maps ${KERNEL_SKIP_REASON ?? ""}`, () => {
  let object: DatapathObject;
  beforeAll(() => {
    object = loadDatapathObject({ pinRoot: null });
  });
  afterAll(() => object?.close());

  it("the addon writes and deletes many entries per call; a delete batch stops at an absent key", () => {
    const map = object.maps.strait_policy;
    const { keySize, valueSize } = map.info;
    const keys = Buffer.concat([1, 2, 3].map((n) => bytes(keySize, n)));
    const values = Buffer.concat([11, 12, 13].map((n) => bytes(valueSize, n)));
    expect(map.updateBatch(keys, values, 3)).toEqual({ count: 3, error: 0 });
    expect(held(map)).toEqual(
      new Map([
        [1, 11],
        [2, 12],
        [3, 13],
      ]),
    );

    const withAbsent = Buffer.concat([1, 99, 3].map((n) => bytes(keySize, n)));
    expect(map.deleteBatch(withAbsent, 3)).toEqual({ count: 1, error: -ERRNO.ENOENT });
    expect(held(map)).toEqual(
      new Map([
        [2, 12],
        [3, 13],
      ]),
    );
    expect(map.deleteBatch(Buffer.concat([2, 3].map((n) => bytes(keySize, n))), 2)).toEqual({
      count: 2,
      error: 0,
    });
    expect(held(map).size).toBe(0);
    // Buffers shorter than count entries are a bug on our side: thrown, never read past.
    expect(() => addon().mapUpdateBatch(map.info.fd, keys, values, keySize, valueSize, 4)).toThrow(
      /mapUpdateBatch/,
    );
    expect(() => addon().mapDeleteBatch(map.info.fd, keys, keySize, 4)).toThrow(/mapDeleteBatch/);
  });

  it("upserts and prunes across batch boundaries, writing only what changed", () => {
    const map = object.maps.strait_policy;
    const sync = new MapSync(map, { batchSize: 7 });
    const first = content(
      map,
      range(0, 50).map((n) => [n, n + 1000]),
    );
    expect(sync.upsert(first)).toEqual({ written: 50 });
    expect(held(map)).toEqual(new Map(range(0, 50).map((n) => [n, n + 1000])));

    // 3 values changed and 5 entries added among 45 unchanged: 8 writes.
    const second = content(map, [
      ...range(0, 45).map((n): [number, number] => [n, n < 3 ? n + 2000 : n + 1000]),
      ...range(100, 105).map((n): [number, number] => [n, n]),
    ]);
    expect(sync.upsert(second)).toEqual({ written: 8 });
    expect(sync.upsert(second)).toEqual({ written: 0 });
    expect(held(map).get(1)).toBe(2001);
    expect(held(map).size).toBe(55);

    // One stale entry vanished behind the agent's back: the delete batch stops there, goes on after it.
    expect(map.delete(bytes(map.info.keySize, 47))).toBe(0);
    expect(sync.prune(second)).toBe(5);
    expect(held(map)).toEqual(
      new Map([
        ...range(0, 45).map((n): [number, number] => [n, n < 3 ? n + 2000 : n + 1000]),
        ...range(100, 105).map((n): [number, number] => [n, n]),
      ]),
    );
    expect(sync.size).toBe(50);
    expect(sync.prune(new Map())).toBe(50);
    expect(held(map).size).toBe(0);
    expect(sync.batching).toBe(true);
  });

  it("reports a map filling up mid-batch and remembers exactly the entries the kernel took", () => {
    const map = object.maps.strait_endpoints;
    const capacity = map.info.maxEntries;
    const sync = new MapSync(map);
    expect(
      sync.upsert(
        content(
          map,
          range(0, capacity - 5).map((n) => [n, 1]),
        ),
      ),
    ).toEqual({
      written: capacity - 5,
    });
    const more = content(
      map,
      range(0, capacity + 5).map((n) => [n, 1]),
    );
    const r = sync.upsert(more);
    expect(r.written).toBe(5);
    expect(r.error).toEqual({
      map: "strait_endpoints",
      kind: "full",
      message: `strait_endpoints is full (${capacity} entries)`,
    });
    expect(sync.size).toBe(capacity);
    expect(new MapSync(map).size).toBe(capacity); // what the kernel holds, read back
    // Nothing lost track of: the next upsert tries only the 5 that did not fit, prune removes all.
    expect(sync.upsert(more).written).toBe(0);
    expect(sync.prune(new Map())).toBe(capacity);
    expect(map.keys()).toEqual([]);
  });

  it("falls back to one write per entry when the kernel has no batch ops for the map type", () => {
    const real = object.maps.strait_ipcache;
    const map = new NoBatchMap(real.info);
    const sync = new MapSync(map, { batchSize: 4 });
    const desired = content(
      map,
      range(0, 10).map((n) => [n, n]),
    );
    expect(sync.upsert(desired)).toEqual({ written: 10 });
    expect(sync.batching).toBe(false);
    expect(map.batchCalls).toBe(1); // asked once, then per entry for good
    expect(held(real).size).toBe(10);
    expect(sync.prune(content(map, [[3, 3]]))).toBe(9);
    expect(map.batchCalls).toBe(1);
    expect(held(real)).toEqual(new Map([[3, 3]]));
    expect(sync.prune(new Map())).toBe(1);
  });
});
