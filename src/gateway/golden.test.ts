/**
 * Golden tests of the two pure stages, one folder per case under
 * testdata/gateway/ (named after the conformance test it mirrors):
 *
 *   input.yaml (+ common.yaml) ──gateway stage──► statuses.yaml, model.yaml
 *                               ──xds translate──► envoy.yaml
 *
 * The goldens are regenerated only with UPDATE_GOLDEN=1 (and reviewed); a
 * missing golden fails, it is never written and compared with itself. Every
 * Envoy resource must also encode with the real Envoy protos.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { parseManifestText } from "../sources/manifests.ts";
import { ResourceStore } from "../sources/store.ts";
import { encodeResource } from "../xds/proto/index.ts";
import { translateGatewayModel } from "../xds/translate/index.ts";
import { translateGateways } from "./index.ts";

const ROOT = join(import.meta.dirname, "../../testdata/gateway");
const UPDATE = process.env.UPDATE_GOLDEN === "1";
const NOW = new Date("2026-01-01T00:00:00Z");

function load(file: string, store: ResourceStore): void {
  const set = parseManifestText(file, readFileSync(file, "utf8"));
  if (set.diagnostics.length > 0) throw new Error(`${file}: ${JSON.stringify(set.diagnostics)}`);
  for (const o of set.objects) store.upsert(o.kind, o.object);
}

function golden(dir: string, name: string, value: unknown): void {
  const file = join(dir, name);
  const text = stringify(value, { lineWidth: 0, sortMapEntries: false, aliasDuplicateObjects: false });
  if (UPDATE) writeFileSync(file, text);
  expect(existsSync(file), `${file} is missing: run with UPDATE_GOLDEN=1 and review it`).toBe(true);
  expect(text).toBe(readFileSync(file, "utf8"));
}

const cases = readdirSync(ROOT, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

describe("gateway golden cases", () => {
  it("has cases", () => expect(cases.length).toBeGreaterThanOrEqual(8));

  it.each(cases)("%s", (name) => {
    const dir = join(ROOT, name);
    const store = new ResourceStore();
    load(join(ROOT, "common.yaml"), store);
    load(join(dir, "input.yaml"), store);
    const { model, statuses } = translateGateways(store, { now: NOW, addressPool: ["127.0.1.0/24"] });
    golden(dir, "statuses.yaml", statuses);
    golden(dir, "model.yaml", model);
    const resources = translateGatewayModel(model);
    const envoy = Object.fromEntries(
      Object.entries(resources).map(([type, byName]) => [
        type.split(".").pop(),
        Object.fromEntries([...byName].sort(([a], [b]) => (a < b ? -1 : 1))),
      ]),
    );
    golden(dir, "envoy.yaml", envoy);
    for (const [type, byName] of Object.entries(resources)) {
      for (const [resource, json] of byName)
        expect(encodeResource(type, json).issues, `${resource}`).toEqual([]);
    }
  });
});
