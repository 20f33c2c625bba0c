import { describe, expect, it } from "vitest";
import { excludesOf, formatVerbose, isVerbose, ReadinessChecks, readinessBody } from "./readiness.ts";

function checks(state: Record<string, string | undefined>, informational: readonly string[] = []) {
  const set = new ReadinessChecks();
  for (const name of Object.keys(state)) {
    set.add({ name, check: () => state[name], informational: informational.includes(name) });
  }
  return set;
}

describe("readiness checks", () => {
  it("is ready when every check passes, and lists each in the verbose body in order", () => {
    const report = checks({ "sources-synced": undefined, "xds-snapshot": undefined }).run();
    expect(report.ready).toBe(true);
    expect(readinessBody(report)).toEqual({ status: "ready" });
    expect(formatVerbose(report)).toBe("[+]sources-synced ok\n[+]xds-snapshot ok\nreadyz check passed\n");
  });

  it("fails on a failing check, with the first reason and every failing name", () => {
    const report = checks({ a: undefined, b: "b is down", c: "c is down" }).run();
    expect(report.ready).toBe(false);
    expect(readinessBody(report)).toEqual({ status: "not ready", reason: "b is down", failed: ["b", "c"] });
    expect(formatVerbose(report)).toBe(
      "[+]a ok\n[-]b failed: b is down\n[-]c failed: c is down\nreadyz check failed\n",
    );
  });

  it("reports an informational check's problem without failing readiness", () => {
    const report = checks({ "xds-snapshot": undefined, "xds-withheld-resources": "1 withheld" }, [
      "xds-withheld-resources",
    ]).run();
    expect(report.ready).toBe(true);
    expect(readinessBody(report)).toEqual({ status: "ready" });
    expect(formatVerbose(report)).toBe(
      "[+]xds-snapshot ok\n[!]xds-withheld-resources (informational, does not fail readiness): 1 withheld\nreadyz check passed\n",
    );
  });

  it("leaves excluded checks out, and warns about exclusions that match nothing", () => {
    const set = checks({ "xds-current": "stale", "xds-snapshot": undefined });
    expect(set.run().ready).toBe(false);
    const report = set.run(["xds-current", "no-such-check"]);
    expect(report.ready).toBe(true);
    expect(report.results.map((r) => r.name)).toEqual(["xds-snapshot"]);
    expect(formatVerbose(report)).toBe(
      "[+]xds-snapshot ok\nwarn: some checks cannot be excluded: no matches for no-such-check\nreadyz check passed\n",
    );
  });

  it("turns a check that throws into a failure, not a pass", () => {
    const set = new ReadinessChecks();
    set.add({
      name: "broken",
      check: () => {
        throw new Error("bug");
      },
    });
    expect(readinessBody(set.run())).toEqual({
      status: "not ready",
      reason: "check failed to run: bug",
      failed: ["broken"],
    });
  });

  it("refuses names that are not kube-style or taken", () => {
    const set = checks({ a: undefined });
    expect(() => set.add({ name: "a", check: () => undefined })).toThrow(/added twice/);
    expect(() => set.add({ name: "Not Kube", check: () => undefined })).toThrow(/not kube-style/);
  });

  it("reads ?exclude and ?verbose as kube-apiserver takes them", () => {
    expect(excludesOf({ exclude: "a" })).toEqual(["a"]);
    expect(excludesOf({ exclude: ["a", "b"] })).toEqual(["a", "b"]);
    expect(excludesOf({})).toEqual([]);
    expect(isVerbose({ verbose: "" })).toBe(true);
    expect(isVerbose({ verbose: "true" })).toBe(true);
    expect(isVerbose({ verbose: "false" })).toBe(false);
    expect(isVerbose({})).toBe(false);
  });
});
