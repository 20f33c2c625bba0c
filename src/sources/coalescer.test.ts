import { describe, expect, it } from "vitest";
import type { ObjectOf } from "../resources/objects.ts";
import { type ChangeBatch, ChangeCoalescer } from "./coalescer.ts";
import { ResourceStore } from "./store.ts";

function svc(i: number): ObjectOf<"Service"> {
  return {
    apiVersion: "v1",
    kind: "Service" as const,
    metadata: { name: `s${i % 50}`, namespace: "ns" },
    spec: { ports: [{ port: i }] },
  };
}

describe("ChangeCoalescer", () => {
  it("turns a burst of 1,000 updates into a handful of batches", async () => {
    const store = new ResourceStore();
    const batches: ChangeBatch[] = [];
    const coalescer = new ChangeCoalescer((b) => void batches.push(b), { quietMs: 20, maxDelayMs: 200 });
    store.subscribe((c) => coalescer.add(c));
    for (let i = 0; i < 1000; i++) store.upsert("Service", svc(i));
    await coalescer.drain();
    expect(batches.length).toBeGreaterThanOrEqual(1);
    expect(batches.length).toBeLessThanOrEqual(3);
    // 50 distinct objects: each appears once per batch, with its last change.
    expect(new Set(batches.flatMap((b) => b.changes.map((c) => c.key.name))).size).toBe(50);
  });

  it("flushes a steady trickle no later than maxDelayMs", async () => {
    const batches: number[] = [];
    const started = Date.now();
    const coalescer = new ChangeCoalescer(() => void batches.push(Date.now() - started), {
      quietMs: 50,
      maxDelayMs: 120,
    });
    const trickle = setInterval(() => coalescer.touch({ kind: "Service", namespace: "ns", name: "x" }), 10);
    await new Promise((r) => setTimeout(r, 400));
    clearInterval(trickle);
    await coalescer.drain();
    coalescer.close();
    expect(batches.length).toBeGreaterThanOrEqual(2);
    expect(batches[0]).toBeLessThan(300);
  });

  it("never runs two handlers at once; changes during a run go to the next batch", async () => {
    let running = 0;
    let maxRunning = 0;
    const sizes: number[] = [];
    const coalescer = new ChangeCoalescer(
      async (b) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        sizes.push(b.changes.length);
        await new Promise((r) => setTimeout(r, 30));
        running--;
      },
      { quietMs: 1, maxDelayMs: 5 },
    );
    coalescer.touch({ kind: "Service", namespace: "ns", name: "a" });
    await new Promise((r) => setTimeout(r, 10));
    coalescer.touch({ kind: "Service", namespace: "ns", name: "b" });
    coalescer.touch({ kind: "Service", namespace: "ns", name: "c" });
    await coalescer.drain();
    expect(maxRunning).toBe(1);
    expect(sizes).toEqual([1, 2]);
  });

  it("reports a throwing handler and keeps working", async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const coalescer = new ChangeCoalescer(
      () => {
        calls++;
        if (calls === 1) throw new Error("boom");
      },
      { quietMs: 1, onError: (e) => errors.push(e) },
    );
    coalescer.touch({ kind: "Service", namespace: "ns", name: "a" });
    await coalescer.drain();
    coalescer.touch({ kind: "Service", namespace: "ns", name: "b" });
    await coalescer.drain();
    expect(errors).toHaveLength(1);
    expect(calls).toBe(2);
  });
});
