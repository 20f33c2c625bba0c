/**
 * Generates src/xds/proto/envoy-types.ts: TypeScript types of the Envoy
 * resources strait builds and reads, from the same Envoy protos the strict
 * encoder loads (src/xds/proto/envoy-protos.ts), so that a wrong field name or
 * a value of the wrong type in the translator or the simulator is a compile
 * error.
 *
 *   node scripts/gen-envoy-types.ts          # rewrite the file
 *   node scripts/gen-envoy-types.ts --check  # exit 1 when it is stale (CI)
 *
 * Why not @grpc/proto-loader's proto-loader-gen-types (which grpc-js-xds runs
 * over these protos): its types describe protobufjs' object form (Duration as
 * `{ seconds, nanos }`, wrappers as `{ value }`, Any as `{ type_url, value }`),
 * while strait builds, prints and golden-tests the proto3 JSON form, which is
 * what Envoy's own YAML and `strait translate` show (Duration `"1.5s"`,
 * wrappers bare, Any `{ "@type", ...fields }`). This generator walks the same
 * protobufjs Root and writes the proto3 JSON form, with the proto field names
 * (snake_case) the translator uses.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import protobuf from "protobufjs";
import { ENTRY_FILES, loadEnvoyRootFromProtos } from "../src/xds/proto/envoy-protos.ts";

export const OUTPUT = join(import.meta.dirname, "../src/xds/proto/envoy-types.ts");

/** Well-known types in their proto3 JSON mapping. */
const WELL_KNOWN: Readonly<Record<string, string>> = {
  "google.protobuf.Duration": "string",
  "google.protobuf.Timestamp": "string",
  "google.protobuf.FieldMask": "string",
  "google.protobuf.Any": "AnyJson",
  "google.protobuf.Struct": "{ readonly [key: string]: unknown }",
  "google.protobuf.Value": "unknown",
  "google.protobuf.ListValue": "readonly unknown[]",
  "google.protobuf.Empty": "{ readonly [key: string]: never }",
  "google.protobuf.DoubleValue": "number",
  "google.protobuf.FloatValue": "number",
  "google.protobuf.Int64Value": "number | string",
  "google.protobuf.UInt64Value": "number | string",
  "google.protobuf.Int32Value": "number",
  "google.protobuf.UInt32Value": "number",
  "google.protobuf.BoolValue": "boolean",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "string",
  "google.protobuf.NullValue": "null",
};

const SCALARS: Readonly<Record<string, string>> = {
  double: "number",
  float: "number",
  int32: "number",
  uint32: "number",
  sint32: "number",
  fixed32: "number",
  sfixed32: "number",
  int64: "number | string",
  uint64: "number | string",
  sint64: "number | string",
  fixed64: "number | string",
  sfixed64: "number | string",
  bool: "boolean",
  string: "string",
  bytes: "string",
};

function fullName(t: protobuf.ReflectionObject): string {
  return t.fullName.replace(/^\./, "");
}

function tsName(t: protobuf.ReflectionObject): string {
  return fullName(t).replaceAll(".", "_");
}

function fieldType(field: protobuf.Field, seen: Set<protobuf.Type | protobuf.Enum>): string {
  const resolved = field.resolve().resolvedType;
  let base: string;
  if (resolved === null) {
    base = SCALARS[field.type] ?? "unknown";
  } else {
    const known = WELL_KNOWN[fullName(resolved)];
    if (known !== undefined) base = known;
    else {
      seen.add(resolved as protobuf.Type | protobuf.Enum);
      base = tsName(resolved);
    }
  }
  if (field instanceof protobuf.MapField) return `{ readonly [key: string]: ${base} }`;
  if (field.repeated) return base.includes(" ") ? `readonly (${base})[]` : `readonly ${base}[]`;
  return base;
}

function isEntryType(t: protobuf.Type): boolean {
  const file = (t.filename ?? "").replaceAll("\\", "/");
  return (
    ENTRY_FILES.some((entry) => file.endsWith(`/${entry}`)) &&
    t.parent instanceof protobuf.Namespace &&
    !(t.parent instanceof protobuf.Type)
  );
}

function allTypes(ns: protobuf.NamespaceBase, out: protobuf.Type[] = []): protobuf.Type[] {
  for (const child of ns.nestedArray) {
    if (child instanceof protobuf.Type) out.push(child);
    if (child instanceof protobuf.Namespace || child instanceof protobuf.Type) allTypes(child, out);
  }
  return out;
}

/** The generated module's text (pure: the same protos give the same text). */
// From the .proto files themselves, not the parsed cache (build/proto-cache): only they say
// which file each type comes from.
export function renderEnvoyTypes(root: protobuf.Root = loadEnvoyRootFromProtos()): string {
  const queue: (protobuf.Type | protobuf.Enum)[] = allTypes(root).filter(isEntryType);
  const done = new Map<string, protobuf.Type | protobuf.Enum>();
  while (queue.length > 0) {
    const t = queue.pop();
    if (t === undefined || done.has(fullName(t)) || WELL_KNOWN[fullName(t)] !== undefined) continue;
    done.set(fullName(t), t);
    if (t instanceof protobuf.Type) {
      const seen = new Set<protobuf.Type | protobuf.Enum>();
      for (const f of t.fieldsArray) fieldType(f, seen);
      queue.push(...seen);
    }
  }
  const names = [...done.keys()].sort();
  const lines: string[] = [
    "// Generated by scripts/gen-envoy-types.ts from the Envoy protos (src/xds/proto/envoy-protos.ts).",
    "// Do not edit: run `node scripts/gen-envoy-types.ts`; a test fails when this file is stale.",
    "//",
    "// The proto3 JSON form of each message: proto field names, every field optional, Duration and",
    '// Timestamp as strings, wrappers as bare values, Any as { "@type", ...fields }, enums by name.',
    "",
    "/** google.protobuf.Any in proto3 JSON: the type URL and the message's own fields. */",
    "export interface AnyJson {",
    '  readonly "@type": string;',
    "  readonly [field: string]: unknown;",
    "}",
    "",
  ];
  for (const name of names) {
    const t = done.get(name);
    if (t instanceof protobuf.Enum) {
      const values = Object.keys(t.values).map((v) => JSON.stringify(v));
      lines.push(`/** ${name} */`, `export type ${tsName(t)} = ${values.join(" | ")};`, "");
    } else if (t instanceof protobuf.Type) {
      if (t.fieldsArray.length === 0) {
        // Not `{}`, which TypeScript lets any value satisfy: an empty message takes no fields.
        lines.push(`/** ${name} */`, `export type ${tsName(t)} = { readonly [field: string]: never };`, "");
        continue;
      }
      // A type alias, not an interface: it stays assignable to Record<string, unknown> (the
      // resource maps and the encoder take any JSON object).
      lines.push(`/** ${name} */`, `export type ${tsName(t)} = {`);
      for (const f of t.fieldsArray) {
        const oneof = f.partOf === null || f.partOf === undefined ? "" : ` /* oneof ${f.partOf.name} */`;
        lines.push(`  readonly ${f.name}?: ${fieldType(f, new Set())};${oneof}`);
      }
      lines.push("};", "");
    }
  }
  lines.push(
    "/** Every generated message by its full proto name (what an Any's `@type` names). */",
    "export interface EnvoyMessages {",
    ...names
      .filter((n) => done.get(n) instanceof protobuf.Type)
      .map((n) => `  ${JSON.stringify(n)}: ${n.replaceAll(".", "_")};`),
    "}",
    "",
  );
  return lines.join("\n");
}

if (import.meta.main) {
  const text = renderEnvoyTypes();
  if (process.argv.includes("--check")) {
    const current = readFileSync(OUTPUT, "utf8");
    if (current !== text) {
      console.error(`${OUTPUT} is stale: run node scripts/gen-envoy-types.ts`);
      process.exit(1);
    }
  } else {
    writeFileSync(OUTPUT, text);
    console.log(`wrote ${OUTPUT} (${text.split("\n").length} lines)`);
  }
}
