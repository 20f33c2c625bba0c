import { describe, expect, it } from "vitest";
import { EMPTY_NAME_LIST, internedNameList, nameList } from "./name-lists.ts";

describe("shared name lists", () => {
  it("gives streams naming the same resources one list, and another list for other names", () => {
    const a = nameList(["ns/a:80", "ns/b:80"]);
    const b = nameList(["ns/a:80", "ns/b:80"].map((n) => `${n}`));
    expect(b).toBe(a);
    expect(nameList(["ns/a:80"])).not.toBe(a);
    expect(nameList([])).toBe(EMPTY_NAME_LIST);
  });

  it("swaps in the snapshot's strings once, for everyone after", () => {
    const decoded = nameList(["x:1", "y:2"]);
    const snapshotNames = new Map([
      ["x:1", "x:1"],
      ["y:2", "y:2"],
    ]);
    const interned = internedNameList(decoded, (n) => snapshotNames.get(n) ?? n);
    expect(interned.interned).toBe(true);
    expect(interned.hash).toBe(decoded.hash);
    expect(interned.names).toEqual(decoded.names);
    expect(nameList(["x:1", "y:2"])).toBe(interned);
    expect(internedNameList(decoded, () => "other")).toBe(interned);
  });
});
