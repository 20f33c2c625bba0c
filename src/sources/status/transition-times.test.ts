import { describe, expect, it } from "vitest";
import { carryTransitionTimes } from "./transition-times.ts";

const c = (type: string, status: string, time: string) => ({
  type,
  status,
  reason: "R",
  message: "m",
  lastTransitionTime: time,
});

describe("carryTransitionTimes", () => {
  it("keeps the old time while a condition's status holds, takes the new one when it changes", () => {
    const previous = { conditions: [c("Accepted", "True", "T1"), c("Programmed", "False", "T1")] };
    const next = { conditions: [c("Programmed", "True", "T2"), c("Accepted", "True", "T2")] };
    expect(carryTransitionTimes(previous, next)).toEqual({
      conditions: [c("Programmed", "True", "T2"), c("Accepted", "True", "T1")],
    });
  });

  it("matches listeners by name and route parents by parentRef and controllerName", () => {
    const ref = { kind: "Gateway", namespace: "ns", name: "gw" };
    const previous = {
      listeners: [{ name: "b", conditions: [c("Accepted", "True", "T1")] }],
      parents: [
        { parentRef: ref, controllerName: "other", conditions: [c("Accepted", "True", "T0")] },
        { parentRef: ref, controllerName: "strait", conditions: [c("Accepted", "True", "T1")] },
      ],
    };
    const next = {
      listeners: [
        { name: "a", conditions: [c("Accepted", "True", "T2")] },
        { name: "b", conditions: [c("Accepted", "True", "T2")] },
      ],
      parents: [{ parentRef: ref, controllerName: "strait", conditions: [c("Accepted", "True", "T2")] }],
    };
    const out = carryTransitionTimes(previous, next);
    expect(out.listeners.map((l) => l.conditions[0]?.lastTransitionTime)).toEqual(["T2", "T1"]);
    expect(out.parents[0]?.conditions[0]?.lastTransitionTime).toBe("T1");
  });

  it("returns the new status itself when there is nothing to carry", () => {
    const next = { conditions: [c("Accepted", "True", "T2")] };
    expect(carryTransitionTimes(undefined, next)).toBe(next);
    expect(carryTransitionTimes({ conditions: [c("Accepted", "False", "T1")] }, next)).toBe(next);
  });
});
