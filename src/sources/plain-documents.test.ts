import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { parseManifestText, plainDocuments } from "./manifests.ts";

const REPO = join(import.meta.dirname, "../..");
/** Real manifests: the official Gateway API CRDs and conformance manifests, and strait's own. */
const CORPUS = [
  "/work/shared/gateway-api",
  join(REPO, "../shared/gateway-api"),
  join(REPO, "conformance"),
  join(REPO, "testdata"),
  join(REPO, "examples"),
];

function yamlFiles(dir: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir, { recursive: true, encoding: "utf8" });
  } catch {
    return [];
  }
  return entries.filter((e) => /\.ya?ml$/.test(e)).map((e) => join(dir, e));
}

/** What the `yaml` package gives: the reference the fast path must equal. */
function reference(text: string): { value: unknown; index: number }[] {
  return parseAllDocuments(text)
    .map((doc, index) => ({ value: doc.toJS({ maxAliasCount: 100 }) as unknown, index }))
    .filter((d) => d.value !== null && d.value !== undefined);
}

describe("the fast path for plain YAML manifests (js-yaml, core schema)", () => {
  const files = [...new Set(CORPUS.flatMap(yamlFiles))];

  it("gives exactly the `yaml` package's documents and indexes on every real manifest here", () => {
    expect(files.length).toBeGreaterThan(100);
    let fast = 0;
    for (const file of files) {
      const text = readFileSync(file, "utf8");
      const docs = plainDocuments(text);
      if (docs === undefined) continue; // declined: the `yaml` package reads it
      fast++;
      expect(docs, file).toEqual(reference(text));
    }
    // Most manifests are plain: the fast path must actually be taken, not always declined.
    expect(fast).toBeGreaterThan(files.length / 2);
  });

  it.each([
    [
      "scalars of the core schema",
      "a: 0o17\nb: 0x1F\nc: .5\nd: 1e3\ne: TRUE\nf: yes\ng: ~\nh: 012\ni: .inf\nj: 2026-01-01T00:00:00Z\n",
    ],
    ["a blank and commented prelude before the first marker", "# head\n\n---\na: 1\n---\nb: [1, {c: d}]\n"],
    ["an empty document first and a trailing marker", "---\n---\na: 1\n---\n"],
    ["content on the marker line", "--- a\n--- |\n  text\n"],
    ["block scalars holding ---", "a: |\n  ---\n  b\nc: >-\n  folded\n  text\n"],
    ["quoted keys and flow maps", '"x y": {"a": [1, 2], b: "*.example.com"}\n'],
  ])("matches on %s", (_name, text) => {
    expect(plainDocuments(text)).toEqual(reference(text));
  });

  it.each([
    ["anchors and aliases (the alias bound is the `yaml` package's)", "a: &x {b: 1}\nc: *x\n"],
    ["a directive", "%YAML 1.2\n---\na: 1\n"],
    ["a document end marker", "a: 1\n...\n---\nb: 2\n"],
    ["a tag", "a: !!str 1\n"],
    ["a syntax error", "a: [1, 2\nb: 3\n"],
    ["a duplicate key", "a: 1\na: 2\n"],
  ])("declines %s", (_name, text) => {
    expect(plainDocuments(text)).toBeUndefined();
  });

  it("leaves a bad document's diagnostic to the `yaml` package and keeps the good ones", () => {
    const text = [
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: [b\n",
      "apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n",
    ].join("---\n");
    const set = parseManifestText("m.yaml", text);
    expect(set.objects.map((o) => o.object.metadata.name)).toEqual(["a", "c"]);
    expect(set.diagnostics).toHaveLength(1);
    expect(set.diagnostics[0]).toMatchObject({ severity: "error", document: 1 });
    expect(set.diagnostics[0]?.message).toMatch(/^not valid YAML: /);
  });

  it("reads a file of 200,000 documents (no argument spread of that size)", () => {
    const text = Array.from(
      { length: 200_000 },
      (_, i) => `apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d${i}}\n`,
    ).join("---\n");
    const set = parseManifestText("many.yaml", text);
    expect(set.diagnostics).toEqual([]);
    expect(set.ignored).toHaveLength(200_000);
    expect(set.ignored.at(-1)?.origin.document).toBe(199_999);
  }, 60_000);
});
