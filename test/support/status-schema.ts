/**
 * Every status strait writes must be one the API server accepts: checked
 * against the `status` schema of the Gateway API CRDs themselves
 * (/work/shared/gateway-api, both channels), as the API server would:
 *
 * - the OpenAPI v3 structural schema with Ajv (types, enums, patterns,
 *   minLength/maxLength, minItems/maxItems, required, formats);
 * - `x-kubernetes-list-type: map` (unique `x-kubernetes-list-map-keys`) and
 *   `set` (unique items), which Ajv does not know;
 * - fields the schema does not declare, which the API server would prune
 *   without a word (strait would believe it wrote them);
 * - the CEL rules (`x-kubernetes-validations`) of the status schemas, each
 *   evaluated by a hand translation below. A rule without a translation
 *   fails the check, so a new release's rule cannot pass unnoticed.
 */

import { readdirSync, readFileSync } from "node:fs";
import { isIPv4, isIPv6 } from "node:net";
import { join } from "node:path";
import { Ajv, type ValidateFunction } from "ajv";
import { parseAllDocuments } from "yaml";
import type { ObjectStatus } from "../../src/model/status.ts";
import { toJsonSchema } from "../../src/sources/schema.ts";
import { gatewayApiDir } from "./gateway-api-data.ts";

type Schema = Record<string, unknown>;

/** CEL rules of the status schemas, translated by hand (rule text → check of `self`). */
const CEL_RULES: Readonly<Record<string, (self: Record<string, unknown>) => boolean>> = {
  // Gateway status.addresses[]: a Hostname value must be a DNS name (optionally a wildcard).
  [`self.type == 'Hostname' ? self.value.matches(r"""^(\\*\\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"""): true`]:
    (self) =>
      self.type !== "Hostname" ||
      /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(String(self.value)),
};

interface KindSchema {
  readonly channel: string;
  readonly raw: Schema;
  readonly validate: ValidateFunction;
}

/** Declares every object closed, so fields the API server would prune show up as errors. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Schema = {};
  for (const [k, v] of Object.entries(schema))
    out[k] = k === "properties" ? mapValues(v as Schema, closed) : closed(v);
  if (out.properties !== undefined && out.additionalProperties === undefined)
    out.additionalProperties = false;
  return out;
}

function mapValues(o: Schema, f: (v: unknown) => unknown): Schema {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, f(v)]));
}

function newAjv(): Ajv {
  const ajv = new Ajv({ strict: false, allErrors: true });
  ajv.addFormat("ipv4", (s: string) => isIPv4(s));
  ajv.addFormat("ipv6", (s: string) => isIPv6(s));
  ajv.addFormat("date-time", (s: string) =>
    /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(s),
  );
  ajv.addFormat("int32", {
    type: "number",
    validate: (n: number) => Number.isInteger(n) && Math.abs(n) < 2 ** 31,
  });
  ajv.addFormat("int64", { type: "number", validate: (n: number) => Number.isSafeInteger(n) });
  return ajv;
}

function loadSchemas(): Map<string, KindSchema[]> {
  const byKind = new Map<string, KindSchema[]>();
  const ajv = newAjv();
  for (const channel of ["standard", "experimental"]) {
    const dir = join(gatewayApiDir(), "config/crd", channel);
    for (const file of readdirSync(dir).filter((f) => f.startsWith("gateway.networking.k8s.io_"))) {
      for (const doc of parseAllDocuments(readFileSync(join(dir, file), "utf8"))) {
        const crd = doc.toJS() as {
          kind?: string;
          spec?: {
            names: { kind: string };
            versions: {
              storage?: boolean;
              schema?: { openAPIV3Schema?: { properties?: { status?: Schema } } };
            }[];
          };
        } | null;
        if (crd?.kind !== "CustomResourceDefinition" || crd.spec === undefined) continue;
        const version = crd.spec.versions.find((v) => v.storage === true);
        const status = version?.schema?.openAPIV3Schema?.properties?.status;
        if (status === undefined) continue;
        const list = byKind.get(crd.spec.names.kind) ?? [];
        list.push({ channel, raw: status, validate: ajv.compile(closed(toJsonSchema(status)) as object) });
        byKind.set(crd.spec.names.kind, list);
      }
    }
  }
  return byKind;
}

let schemas: Map<string, KindSchema[]> | undefined;

/** The Kubernetes extensions of one schema node, checked on a value. */
function kubernetesExtensions(schema: Schema, value: unknown, path: string, out: string[]): void {
  if (value === undefined || value === null) return;
  for (const v of (schema["x-kubernetes-validations"] ?? []) as { rule: string; message?: string }[]) {
    const check = CEL_RULES[v.rule];
    if (check === undefined)
      out.push(`${path}: CEL rule without a translation in status-schema.ts: ${v.rule}`);
    else if (!check(value as Record<string, unknown>)) out.push(`${path}: ${v.message ?? v.rule}`);
  }
  if (Array.isArray(value)) {
    const items = schema.items as Schema | undefined;
    const listType = schema["x-kubernetes-list-type"];
    const keyOf =
      listType === "map"
        ? (item: unknown) =>
            JSON.stringify(
              ((schema["x-kubernetes-list-map-keys"] ?? []) as string[]).map(
                (k) => (item as Record<string, unknown>)[k],
              ),
            )
        : listType === "set"
          ? (item: unknown) => JSON.stringify(item)
          : undefined;
    const seen = new Set<string>();
    value.forEach((item, i) => {
      if (keyOf !== undefined) {
        const key = keyOf(item);
        if (seen.has(key))
          out.push(`${path}[${i}]: duplicate entry ${key} in a list of type ${String(listType)}`);
        seen.add(key);
      }
      if (items !== undefined) kubernetesExtensions(items, item, `${path}[${i}]`, out);
    });
    return;
  }
  if (typeof value === "object") {
    for (const [k, sub] of Object.entries((schema.properties ?? {}) as Record<string, Schema>))
      kubernetesExtensions(sub, (value as Record<string, unknown>)[k], `${path}.${k}`, out);
  }
}

/**
 * Why the API server would refuse (or silently change) this status, per
 * channel; empty when both channels' CRDs accept it. Kinds without a
 * Gateway API CRD (policy statuses) are not checked here.
 */
export function statusSchemaProblems(s: ObjectStatus): string[] {
  schemas ??= loadSchemas();
  const kinds = schemas.get(s.ref.kind);
  if (kinds === undefined) return [];
  const problems: string[] = [];
  const where = `${s.ref.kind} ${s.ref.namespace}/${s.ref.name}`;
  // The status as the API server receives it: JSON, so undefined fields are gone.
  const value = JSON.parse(JSON.stringify(s.status)) as unknown;
  for (const k of kinds) {
    if (!k.validate(value)) {
      for (const e of k.validate.errors ?? [])
        problems.push(
          `${where} (${k.channel}): status${e.instancePath.replace(/\//g, ".")} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`,
        );
    }
    const ext: string[] = [];
    kubernetesExtensions(k.raw, value, "status", ext);
    for (const p of ext) problems.push(`${where} (${k.channel}): ${p}`);
  }
  return problems;
}

/** Problems of every status in a list (for `expect(...).toEqual([])`). */
export function statusesSchemaProblems(statuses: readonly ObjectStatus[]): string[] {
  return statuses.flatMap(statusSchemaProblems);
}
