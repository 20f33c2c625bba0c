/**
 * Codec of the per-CPU counters: mirrors `struct counter` (bpf/lib/metrics.h)
 * and its index (direction, verdict, drop reason). A per-CPU lookup returns
 * one value per possible CPU, each padded to 8 bytes.
 */
import { DIR_MAX, DROP_REASON_MAX, VERDICT_MAX } from "../reasons.ts";
import { layout, offsetOf } from "./layout.ts";

export const COUNTER = layout("counter", [
  ["packets", 8],
  ["bytes", 8],
]);
export const COUNTERS_MAX = DIR_MAX * VERDICT_MAX * DROP_REASON_MAX;

export function counterIndex(direction: number, verdict: number, reason: number): number {
  return (direction * VERDICT_MAX + verdict) * DROP_REASON_MAX + reason;
}

export function encodeCounterKey(index: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(index, 0);
  return b;
}

/** Sums the per-CPU values of one counter. */
export function sumPerCpu(b: Buffer, cpus: number): { packets: bigint; bytes: bigint } {
  const stride = Math.ceil(COUNTER.size / 8) * 8;
  let packets = 0n;
  let bytes = 0n;
  for (let cpu = 0; cpu < cpus; cpu++) {
    packets += b.readBigUInt64LE(cpu * stride + offsetOf(COUNTER, "packets"));
    bytes += b.readBigUInt64LE(cpu * stride + offsetOf(COUNTER, "bytes"));
  }
  return { packets, bytes };
}
