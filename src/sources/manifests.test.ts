import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { gatewayApiDir } from "../../test/support/gateway-api-data.ts";
import { formatDiagnostic, loadManifests, parseManifestText } from "./manifests.ts";
import { crdSchemaCheck } from "./schema.ts";

const GATEWAY_API_CRDS = join(gatewayApiDir(), "config/crd/standard");

const ROUTE = `apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: web
  namespace: app
spec:
  parentRefs: [{ name: gw }]
  rules:
    - matches: [{ path: { type: PathPrefix, value: /v1 } }]
      backendRefs: [{ name: web, port: 80 }]
`;

describe("parseManifestText", () => {
  it("reads multi-document YAML and skips empty documents", () => {
    const set = parseManifestText(
      "a.yaml",
      `---\n${ROUTE}---\n---\napiVersion: v1\nkind: Namespace\nmetadata: { name: app }\n`,
    );
    expect(set.diagnostics).toEqual([]);
    expect(set.objects.map((o) => `${o.kind}/${o.object.metadata.name}#${o.origin.document}`)).toEqual([
      "HTTPRoute/web#0",
      "Namespace/app#2",
    ]);
  });

  it("reports a schema violation with file, document, object and field path, and keeps the rest", () => {
    const bad = ROUTE.replace("PathPrefix", "Prefixy").replace(
      "name: web\n  namespace",
      "name: broken\n  namespace",
    );
    const set = parseManifestText("routes.yaml", `${ROUTE}---\n${bad}`);
    expect(set.objects.map((o) => o.object.metadata.name)).toEqual(["web"]);
    expect(set.diagnostics).toHaveLength(1);
    const [d] = set.diagnostics;
    expect(d).toMatchObject({
      severity: "error",
      file: "routes.yaml",
      document: 1,
      kind: "HTTPRoute",
      name: "broken",
      namespace: "app",
      path: "spec.rules[0].matches[0].path.type",
    });
    expect(formatDiagnostic(d ?? { severity: "error", file: "", message: "" })).toContain(
      "routes.yaml#1 HTTPRoute app/broken: spec.rules[0].matches[0].path.type: must be equal to one of the allowed values",
    );
  });

  it("reports text that is not YAML without throwing", () => {
    const set = parseManifestText("junk.yaml", "key: [unclosed\n  - : :\n");
    expect(set.objects).toEqual([]);
    expect(set.diagnostics[0]?.message).toMatch(/not valid YAML/);
  });

  it("reports invalid JSON", () => {
    const set = parseManifestText("x.json", "{ not json");
    expect(set.diagnostics[0]).toMatchObject({ file: "x.json", severity: "error" });
    expect(set.diagnostics[0]?.message).toMatch(/not valid JSON/);
  });

  it("reports documents that are not objects, and missing apiVersion, kind or name", () => {
    const text = [
      "- just\n- a list\n",
      "42\n",
      "kind: Service\nmetadata: { name: x }\n",
      "apiVersion: v1\nmetadata: { name: x }\n",
      "apiVersion: v1\nkind: Service\nmetadata: {}\n",
    ].join("---\n");
    const set = parseManifestText("bad.yaml", text);
    expect(set.objects).toEqual([]);
    expect(set.diagnostics.map((d) => [d.document, d.path ?? "", d.message])).toEqual([
      [0, "", "document is not an object (got a list)"],
      [1, "", "document is not an object (got a number)"],
      [2, "apiVersion", "missing apiVersion"],
      [3, "kind", "missing kind"],
      [4, "metadata.name", "missing metadata.name"],
    ]);
  });

  it("sets aside kinds strait does not read, and defaults the namespace", () => {
    const text =
      "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: d }\n---\napiVersion: v1\nkind: Service\nmetadata: { name: s }\nspec: { ports: [{ port: 80 }] }\n";
    const set = parseManifestText("m.yaml", text);
    expect(set.ignored.map((o) => o.kind)).toEqual(["Deployment"]);
    expect(set.objects[0]?.object.metadata.namespace).toBe("default");
  });

  it("warns on a kind or group typo and refuses wrongly typed metadata, naming file and document (issue 16: these were silent)", () => {
    const text = [
      ROUTE.replace("kind: HTTPRoute", "kind: httproute"),
      ROUTE.replace("gateway.networking.k8s.io/v1", "example.com/v1"),
      ROUTE.replace("namespace: app", "namespace: 7"),
    ].join("---\n");
    const set = parseManifestText("m.yaml", text);
    expect(set.objects).toEqual([]);
    expect(set.diagnostics.map((d) => [d.severity, d.document, d.path, d.message])).toEqual([
      ["warning", 0, "kind", "kind httproute is not read by strait (did you mean HTTPRoute?)"],
      [
        "warning",
        1,
        "kind",
        "HTTPRoute of group example.com is not read by strait (it reads HTTPRoute of gateway.networking.k8s.io)",
      ],
      ["error", 2, "metadata.namespace", "must be a string (got a number)"],
    ]);
  });

  it("refuses YAML and JSON nested deeper than it reads with that reason, not a stack overflow", () => {
    for (const [file, text] of [
      ["deep.yaml", `a: ${"[".repeat(100_000)}${"]".repeat(100_000)}\n`],
      ["deep.json", `${"[".repeat(100_000)}${"]".repeat(100_000)}`],
    ] as const) {
      const set = parseManifestText(file, text);
      expect(
        set.diagnostics.map((d) => d.message),
        file,
      ).toEqual(["nested deeper than strait reads (at most 100 levels)"]);
    }
  });

  it("rejects an unserved version of a kind", () => {
    const set = parseManifestText(
      "m.yaml",
      ROUTE.replace("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v9"),
    );
    expect(set.diagnostics[0]).toMatchObject({ path: "apiVersion" });
  });

  it("reads a List", () => {
    const list = JSON.stringify({
      apiVersion: "v1",
      kind: "List",
      items: [
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "a" } },
        { apiVersion: "v1", kind: "Namespace", metadata: { name: "b" } },
      ],
    });
    expect(parseManifestText("l.json", list).objects.map((o) => o.object.metadata.name)).toEqual(["a", "b"]);
  });

  it("validates against user-supplied CRD files (the Gateway API release's own schemas)", () => {
    const check = crdSchemaCheck([GATEWAY_API_CRDS]);
    const good = parseManifestText("r.yaml", ROUTE, { check });
    expect(good.diagnostics).toEqual([]);
    const bad = parseManifestText("r.yaml", ROUTE.replace("port: 80", "port: 99999"), { check });
    expect(bad.diagnostics[0]).toMatchObject({ path: "spec.rules[0].backendRefs[0].port" });
  });
});

describe("loadManifests", () => {
  it("reads folders recursively, reports unreadable paths, and warns on duplicates", () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-manifests-"));
    mkdirSync(join(dir, "sub"));
    mkdirSync(join(dir, ".hidden"));
    writeFileSync(join(dir, "a.yaml"), ROUTE);
    writeFileSync(join(dir, "sub", "b.yml"), ROUTE);
    writeFileSync(
      join(dir, ".hidden", "c.yaml"),
      ROUTE.replace("name: web\n  namespace", "name: hidden\n  namespace"),
    );
    writeFileSync(join(dir, "notes.txt"), "not a manifest");
    const set = loadManifests([dir, join(dir, "missing")]);
    expect(set.objects.map((o) => o.object.metadata.name)).toEqual(["web"]);
    expect(set.diagnostics.map((d) => d.severity)).toEqual(["warning", "error"]);
    expect(set.diagnostics[1]?.message).toMatch(/cannot read/);
  });
});
