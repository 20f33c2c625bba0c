import { describe, expect, it } from "vitest";
import { SendBudget } from "./send-budget.ts";

describe("SendBudget", () => {
  it("starts what fits, queues the rest first come first served, and lets an oversized one go alone", () => {
    const budget = new SendBudget(100);
    const started: string[] = [];
    budget.request(60, () => started.push("a"));
    budget.request(60, () => started.push("b")); // does not fit beside a
    budget.request(10, () => started.push("c")); // would fit, but b was first
    const cancel = budget.request(10, () => started.push("d"));
    expect(started).toEqual(["a"]);
    cancel();
    budget.release(60);
    expect(started).toEqual(["a", "b", "c"]);
    expect(budget.inFlight).toBe(70);
    budget.release(60);
    budget.release(10);
    expect(budget.inFlight).toBe(0);
    budget.request(500, () => started.push("huge"));
    expect(started.at(-1)).toBe("huge");
    budget.request(1, () => started.push("after"));
    expect(started.at(-1)).toBe("huge");
    budget.release(500);
    expect(started).toEqual(["a", "b", "c", "huge", "after"]);
  });
});
