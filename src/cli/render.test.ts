import { describe, expect, it } from "vitest";
import { render, writeJsonSections } from "./render.ts";

describe("writeJsonSections", () => {
  it.each([
    [
      "items, nesting, empty lists and strings with escapes",
      {
        listeners: [{ name: "a", filters: [], nested: { list: [1, { x: "line\nbreak" }] } }, { name: "b" }],
        routes: [],
        clusters: [{ name: "c", weights: [[1, 2], []] }],
      },
    ],
    ["no sections", {}],
    ["one empty section", { secrets: [] }],
  ])("writes exactly what render(-o json) writes: %s", (_name, value) => {
    const chunks: string[] = [];
    writeJsonSections(Object.entries(value as Record<string, unknown[]>), (t) => chunks.push(t));
    expect(chunks.join("")).toBe(render(value, "json"));
  });

  it("writes in chunks, not the whole output at once", () => {
    const items = Array.from({ length: 3000 }, (_, i) => ({ name: `r${i}`, pad: "x".repeat(1000) }));
    const chunks: string[] = [];
    writeJsonSections([["routes", items]], (t) => chunks.push(t));
    expect(chunks.length).toBeGreaterThan(1);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(2 << 20);
    expect(chunks.join("")).toBe(render({ routes: items }, "json"));
  });
});
