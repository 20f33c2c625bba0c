/**
 * The worker gives what the main thread gives (objects, ignored objects and
 * diagnostics with file, document and field, the size and depth limits), and
 * the file source's rescans through it load the same store as a scan here.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { FileSource } from "./file-source.ts";
import { ManifestParser } from "./manifest-parser.ts";
import {
  MAX_DEPTH,
  MAX_FILE_BYTES,
  parseManifestFile,
  parseManifestText,
  readManifestFile,
} from "./manifests.ts";
import { crdSchemaCheck } from "./schema.ts";
import { ResourceStore } from "./store.ts";

const dir = mkdtempSync(join(tmpdir(), "strait-parse-worker-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const mixed = [
  "apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 80 }] }",
  "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r, namespace: app }\nspec: { rules: [{ matches: [{ path: { type: Bogus, value: / } }] }] }",
  "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\nspec: {}",
  "key: [unclosed",
  `apiVersion: v1\nkind: ConfigMap\nmetadata: { name: deep }\ndata: ${"[".repeat(MAX_DEPTH + 5)}${"]".repeat(MAX_DEPTH + 5)}`,
  "apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 81 }] }",
].join("\n---\n");

describe("ManifestParser (worker thread)", () => {
  it("gives the main thread's result for good, invalid, ignored, broken, too deep and too large input", async () => {
    writeFileSync(join(dir, "mixed.yaml"), mixed);
    const big = join(dir, "too-big.yaml");
    writeFileSync(big, "");
    // A sparse file larger than the limit: refused by size before it is read.
    const { truncateSync } = await import("node:fs");
    truncateSync(big, MAX_FILE_BYTES + 1);
    const parser = new ManifestParser();
    try {
      for (const file of [join(dir, "mixed.yaml"), big, join(dir, "missing.yaml")]) {
        let here: ReturnType<typeof parseManifestText>;
        try {
          here = parseManifestText(file, readManifestFile(file), { defaultNamespace: "dflt" });
        } catch (error) {
          here = {
            objects: [],
            ignored: [],
            diagnostics: [{ severity: "error", file, message: `cannot read: ${(error as Error).message}` }],
          };
        }
        const there = await parser.parse(file, { defaultNamespace: "dflt" });
        expect(there, file).toEqual(here);
      }
      const mixedSet = await parser.parse(join(dir, "mixed.yaml"), { defaultNamespace: "dflt" });
      // The set is not trivially empty: every kind of outcome is in it.
      expect(mixedSet.objects.map((o) => `${o.kind} ${o.origin.document}`)).toEqual([
        "Service 0",
        "Service 5",
      ]);
      expect(mixedSet.ignored.map((i) => i.kind)).toEqual(["Deployment"]);
      expect(mixedSet.diagnostics.map((d) => d.document)).toEqual(expect.arrayContaining([1, 3, 4]));
    } finally {
      rmSync(big);
      await parser.close();
    }
  });

  it("a rescan through the worker loads the same store and diagnostics as a scan on the main thread", async () => {
    const folder = mkdtempSync(join(dir, "folder-"));
    writeFileSync(join(folder, "a.yaml"), mixed);
    writeFileSync(
      join(folder, "b.yaml"),
      "apiVersion: v1\nkind: Service\nmetadata: { name: web }\nspec: { ports: [{ port: 82 }] }\n",
    );
    const hereStore = new ResourceStore();
    const here = await new FileSource(folder, hereStore, {
      offThreadBytes: Number.POSITIVE_INFINITY,
    }).rescan();
    const thereStore = new ResourceStore();
    const source = new FileSource(folder, thereStore, { offThreadBytes: 0 });
    try {
      const there = await source.rescan();
      expect(there.diagnostics).toEqual(here.diagnostics);
      expect(there.ignored).toEqual(here.ignored);
      expect(there.objects).toBe(here.objects);
      const specs = (s: ResourceStore) =>
        s.list("Service").map((o) => [o.metadata.name, o.metadata.namespace, o.spec]);
      expect(specs(thereStore)).toEqual(specs(hereStore));
      expect(specs(thereStore).length).toBeGreaterThan(0);
    } finally {
      source.stop();
    }
  });

  it("checks against CRD schemas (--crds) in the worker, as the main thread does, at the first load too", async () => {
    // A CRD of its own that allows no rules: only its schema, not the packaged one, refuses the route.
    const crd = join(dir, "strict-crd.yaml");
    writeFileSync(
      crd,
      `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: { name: httproutes.gateway.networking.k8s.io }
spec:
  group: gateway.networking.k8s.io
  names: { kind: HTTPRoute, plural: httproutes }
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec: { type: object, properties: { rules: { type: array, maxItems: 0 } } }
`,
    );
    const folder = mkdtempSync(join(dir, "crds-"));
    const route = join(folder, "route.yaml");
    writeFileSync(
      route,
      "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata: { name: r, namespace: app }\nspec: { rules: [{}] }\n",
    );
    expect(parseManifestFile(route).diagnostics).toEqual([]);
    const here = parseManifestFile(route, { check: crdSchemaCheck([crd]) });
    expect(here.diagnostics).toEqual([expect.objectContaining({ severity: "error", path: "spec.rules" })]);

    const parser = new ManifestParser();
    try {
      expect(await parser.parse(route, { crds: [crd] })).toEqual(here);
    } finally {
      await parser.close();
    }
    const store = new ResourceStore();
    const source = new FileSource(folder, store, { offThreadBytes: 0, crds: [crd] });
    try {
      const first = await source.start();
      expect(first.diagnostics).toEqual(here.diagnostics);
      expect(store.list("HTTPRoute")).toEqual([]);
    } finally {
      source.stop();
    }
  });
});
