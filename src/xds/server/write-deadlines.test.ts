import { describe, expect, it } from "vitest";
import { WriteDeadlines } from "./write-deadlines.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A 400 ms timeout sweeps every 100 ms: a write expires 400–500 ms after it started.
describe("WriteDeadlines", () => {
  it("expires only the writes still in flight after the timeout, each once, in the order they started", async () => {
    const deadlines = new WriteDeadlines(400);
    const expired: string[] = [];
    const [a, b, c] = [{}, {}, {}];
    deadlines.start(a, () => expired.push("a"));
    deadlines.start(b, () => expired.push("b"));
    await sleep(300);
    deadlines.start(c, () => expired.push("c"));
    deadlines.done(b); // taken in time
    await sleep(300); // 600 ms: past a's deadline and a sweep, before c's
    expect(expired).toEqual(["a"]);
    await sleep(400); // 1,000 ms: past c's
    expect(expired).toEqual(["a", "c"]);
    expect(deadlines.size).toBe(0);
  });

  it("restarting a write moves its deadline", async () => {
    const deadlines = new WriteDeadlines(400);
    const expired: string[] = [];
    const a = {};
    deadlines.start(a, () => expired.push("first"));
    await sleep(300);
    deadlines.done(a);
    deadlines.start(a, () => expired.push("second"));
    await sleep(300); // the first deadline has passed, the second not
    expect(expired).toEqual([]);
    await sleep(300);
    expect(expired).toEqual(["second"]);
  });
});
