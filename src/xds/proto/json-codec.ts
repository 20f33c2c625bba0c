/**
 * Strict conversion between the proto3 JSON form of Envoy resources (what the
 * translator builds, what golden files and `strait translate` show) and
 * protobuf messages of the real Envoy API.
 *
 * Strict means that anything Envoy would reject is an issue here: an unknown
 * field, a value of the wrong type, an unknown enum name, two members of one
 * oneof, an `@type` that names no known message, or a violated
 * `validate.rules` constraint (see validate-rules.ts). Issues carry the path
 * of the failing field, so a translator bug is found at its source.
 *
 * Field names may be the proto names (snake_case, preferred) or their JSON
 * camelCase names. Well-known types use their proto3 JSON mapping: Any as
 * `{"@type": ..., ...fields}`, Duration as `"1.5s"`, wrappers as bare values,
 * Struct/Value as plain JSON.
 */
import protobuf from "protobufjs";
import { findType, typeNameOf, typeUrlOf } from "./envoy-protos.ts";
import { checkedWhenUnset, checkFieldRules, checkOneofRequired } from "./validate-rules.ts";

export interface ProtoIssue {
  /** Path of the failing field, e.g. `filter_chains[0].filters[0].typed_config.route_config`. */
  readonly path: string;
  readonly message: string;
}

type Json = unknown;
type PlainObject = Record<string, unknown>;

const WRAPPERS = new Set([
  "google.protobuf.DoubleValue",
  "google.protobuf.FloatValue",
  "google.protobuf.Int64Value",
  "google.protobuf.UInt64Value",
  "google.protobuf.Int32Value",
  "google.protobuf.UInt32Value",
  "google.protobuf.BoolValue",
  "google.protobuf.StringValue",
  "google.protobuf.BytesValue",
]);

const INT32_TYPES = new Set(["int32", "sint32", "sfixed32"]);
const UINT32_TYPES = new Set(["uint32", "fixed32"]);
const INT64_TYPES = new Set(["int64", "sint64", "sfixed64"]);
const UINT64_TYPES = new Set(["uint64", "fixed64"]);

function isPlainObject(value: unknown): value is PlainObject {
  return (
    value !== null && typeof value === "object" && !Array.isArray(value) && !(value instanceof Uint8Array)
  );
}

function join(path: string, field: string): string {
  return path === "" ? field : `${path}.${field}`;
}

const CAMEL = new Map<string, string>();

/** JSON name of a proto field name (memoized: the same few hundred names, over and over). */
function camel(name: string): string {
  let out = CAMEL.get(name);
  if (out === undefined) {
    out = name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
    CAMEL.set(name, out);
  }
  return out;
}

const FULL_NAMES = new WeakMap<protobuf.Type, string>();

/** `envoy.config.cluster.v3.Cluster` (protobufjs walks the parents on every read of `fullName`). */
function fullName(type: protobuf.Type): string {
  let name = FULL_NAMES.get(type);
  if (name === undefined) {
    name = type.fullName.replace(/^\./, "");
    FULL_NAMES.set(type, name);
  }
  return name;
}

/** Field of a type by proto name or JSON name. */
function fieldByName(type: protobuf.Type, name: string): protobuf.Field | undefined {
  const direct = type.fields[name];
  if (direct !== undefined) return direct;
  return type.fieldsArray.find((f) => camel(f.name) === name || f.options?.json_name === name);
}

const DURATION = /^(-)?(\d+)(?:\.(\d{1,9}))?s$/;

/** `"1.5s"` → `{ seconds, nanos }`, or undefined when malformed. */
export function parseDuration(text: string): { seconds: number; nanos: number } | undefined {
  const m = DURATION.exec(text);
  if (m === null) return undefined;
  const sign = m[1] === "-" ? -1 : 1;
  const seconds = Number(m[2]);
  const nanos = Number((m[3] ?? "").padEnd(9, "0"));
  if (!Number.isSafeInteger(seconds) || seconds > 315_576_000_000) return undefined;
  return { seconds: sign * seconds, nanos: sign * nanos };
}

export function formatDuration(seconds: number, nanos: number): string {
  const negative = seconds < 0 || nanos < 0;
  const s = Math.abs(seconds);
  const n = Math.abs(nanos);
  const frac = n === 0 ? "" : `.${String(n).padStart(9, "0").replace(/0+$/, "")}`;
  return `${negative ? "-" : ""}${s}${frac}s`;
}

class Converter {
  readonly issues: ProtoIssue[] = [];

  issue(path: string, message: string): undefined {
    this.issues.push({ path: path === "" ? "(root)" : path, message });
    return undefined;
  }

  /** JSON → protobufjs `fromObject` input for a message type. */
  message(type: protobuf.Type, value: Json, path: string): PlainObject | undefined {
    const name = fullName(type);
    if (name === "google.protobuf.Any") return this.any(value, path);
    if (name === "google.protobuf.Duration") return this.duration(value, path);
    if (name === "google.protobuf.Timestamp") return this.timestamp(value, path);
    if (name === "google.protobuf.Struct")
      return isPlainObject(value) ? this.struct(value, path) : this.issue(path, "must be an object (Struct)");
    if (name === "google.protobuf.Value") return this.value(value, path);
    if (name === "google.protobuf.ListValue") {
      return Array.isArray(value)
        ? { values: value.map((v, i) => this.value(v, `${path}[${i}]`)) }
        : this.issue(path, "must be a list (ListValue)");
    }
    if (name === "google.protobuf.Empty") {
      return isPlainObject(value) && Object.keys(value).length === 0
        ? {}
        : this.issue(path, "must be {} (Empty)");
    }
    if (WRAPPERS.has(name)) {
      const inner = type.fields.value;
      if (inner === undefined) return this.issue(path, `wrapper ${name} without value field`);
      const v = this.scalar(inner, value, path);
      return v === undefined ? undefined : { value: v };
    }
    if (!isPlainObject(value)) return this.issue(path, `must be an object (${name}), got ${describe(value)}`);

    const out: PlainObject = {};
    const setOneofs = new Map<string, string>();
    for (const [key, fieldValue] of Object.entries(value)) {
      const fieldPath = join(path, key);
      const field = fieldByName(type, key);
      if (field === undefined) {
        this.issue(fieldPath, `unknown field "${key}" in ${name}`);
        continue;
      }
      if (
        fieldValue === null &&
        !(
          field.resolvedType instanceof protobuf.Type &&
          fullName(field.resolvedType) === "google.protobuf.Value"
        )
      ) {
        continue; // null means "not set" in proto3 JSON
      }
      if (field.partOf !== null && field.partOf !== undefined) {
        const other = setOneofs.get(field.partOf.name);
        if (other !== undefined) {
          this.issue(
            fieldPath,
            `"${field.name}" and "${other}" are both set, but they are members of oneof ${field.partOf.name}`,
          );
          continue;
        }
        setOneofs.set(field.partOf.name, field.name);
      }
      const converted = this.field(field, fieldValue, fieldPath);
      if (converted !== undefined) out[field.name] = converted;
      checkFieldRules(field, fieldValue, fieldPath, (p, m) => this.issue(p, m));
    }
    for (const field of type.fieldsArray) {
      // Rules of a oneof member apply only when it is the member set (PGV semantics).
      if (field.partOf != null || !checkedWhenUnset(field)) continue;
      if (value[field.name] !== undefined || value[camel(field.name)] !== undefined) continue;
      checkFieldRules(field, undefined, join(path, field.name), (p, m) => this.issue(p, m));
    }
    for (const oneof of type.oneofsArray) {
      checkOneofRequired(oneof, setOneofs.has(oneof.name), path, (p, m) => this.issue(p, m));
    }
    return out;
  }

  field(field: protobuf.Field, value: Json, path: string): unknown {
    if (field.map) {
      if (!isPlainObject(value)) return this.issue(path, `must be an object (map of ${field.type})`);
      const out: PlainObject = {};
      for (const [k, v] of Object.entries(value)) out[k] = this.single(field, v, `${path}["${k}"]`);
      return out;
    }
    if (field.repeated) {
      if (!Array.isArray(value)) return this.issue(path, `must be a list, got ${describe(value)}`);
      return value.map((v, i) => this.single(field, v, `${path}[${i}]`));
    }
    return this.single(field, value, path);
  }

  single(field: protobuf.Field, value: Json, path: string): unknown {
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.message(resolved, value, path);
    if (resolved instanceof protobuf.Enum) return this.enumValue(resolved, value, path);
    return this.scalar(field, value, path);
  }

  enumValue(type: protobuf.Enum, value: Json, path: string): number | undefined {
    if (typeof value === "string") {
      const n = type.values[value];
      return n === undefined
        ? this.issue(
            path,
            `unknown ${type.name} value "${value}" (known: ${Object.keys(type.values).join(", ")})`,
          )
        : n;
    }
    if (typeof value === "number" && Number.isInteger(value)) {
      return Object.values(type.values).includes(value)
        ? value
        : this.issue(path, `${value} is not a ${type.name} value`);
    }
    return this.issue(path, `must be a ${type.name} name, got ${describe(value)}`);
  }

  scalar(field: protobuf.Field, value: Json, path: string): unknown {
    const t = field.type;
    if (t === "string")
      return typeof value === "string" ? value : this.issue(path, `must be a string, got ${describe(value)}`);
    if (t === "bool")
      return typeof value === "boolean"
        ? value
        : this.issue(path, `must be true or false, got ${describe(value)}`);
    if (t === "bytes") {
      if (value instanceof Uint8Array) return value;
      if (typeof value === "string" && /^[A-Za-z0-9+/_-]*={0,2}$/.test(value))
        return Buffer.from(value, "base64");
      return this.issue(path, "must be base64 bytes");
    }
    if (t === "double" || t === "float") {
      if (typeof value === "number") return value;
      if (value === "NaN" || value === "Infinity" || value === "-Infinity") return Number(value);
      return this.issue(path, `must be a number, got ${describe(value)}`);
    }
    const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n))
      return this.issue(path, `must be an integer (${t}), got ${describe(value)}`);
    if (INT32_TYPES.has(t) && (n < -2147483648 || n > 2147483647))
      return this.issue(path, `${n} is out of range for ${t}`);
    if (UINT32_TYPES.has(t) && (n < 0 || n > 4294967295))
      return this.issue(path, `${n} is out of range for ${t}`);
    if (UINT64_TYPES.has(t) && n < 0) return this.issue(path, `${n} is out of range for ${t}`);
    if ((INT64_TYPES.has(t) || UINT64_TYPES.has(t)) && typeof value === "string") return value; // keeps full 64-bit precision
    return n;
  }

  any(value: Json, path: string): PlainObject | undefined {
    if (!isPlainObject(value))
      return this.issue(path, `must be an object with "@type" (Any), got ${describe(value)}`);
    const typeUrl = value["@type"];
    if (typeof typeUrl !== "string") return this.issue(join(path, "@type"), "missing @type");
    const inner = findType(typeNameOf(typeUrl));
    if (inner === undefined) return this.issue(join(path, "@type"), `unknown message type ${typeUrl}`);
    const { "@type": _t, ...rest } = value;
    const innerName = fullName(inner);
    // Well-known types inside Any carry their JSON form under "value".
    const payload = isWellKnown(innerName) ? rest.value : rest;
    const converted = this.message(inner, payload, path);
    if (converted === undefined) return undefined;
    return { type_url: typeUrl, value: inner.encode(inner.fromObject(converted)).finish() };
  }

  duration(value: Json, path: string): PlainObject | undefined {
    if (typeof value !== "string")
      return this.issue(path, `must be a duration string like "1.5s", got ${describe(value)}`);
    const d = parseDuration(value);
    return d === undefined
      ? this.issue(path, `"${value}" is not a duration (use e.g. "30s" or "0.250s")`)
      : d;
  }

  timestamp(value: Json, path: string): PlainObject | undefined {
    if (typeof value !== "string" || Number.isNaN(Date.parse(value)))
      return this.issue(path, "must be an RFC 3339 timestamp");
    const ms = Date.parse(value);
    return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 };
  }

  struct(value: PlainObject, path: string): PlainObject {
    const fields: PlainObject = {};
    for (const [k, v] of Object.entries(value)) fields[k] = this.value(v, join(path, k));
    return { fields };
  }

  // protobufjs's built-in google/protobuf/struct.proto names Value's fields in camelCase (keepCase
  // applies only to the .proto files loaded from disk), so these keys are camelCase.
  value(value: Json, path: string): PlainObject | undefined {
    if (value === null) return { nullValue: 0 };
    if (typeof value === "number") return { numberValue: value };
    if (typeof value === "string") return { stringValue: value };
    if (typeof value === "boolean") return { boolValue: value };
    if (Array.isArray(value))
      return { listValue: { values: value.map((v, i) => this.value(v, `${path}[${i}]`)) } };
    if (isPlainObject(value)) return { structValue: this.struct(value, path) };
    return this.issue(path, `cannot represent ${describe(value)} as a protobuf Value`);
  }
}

function isWellKnown(name: string): boolean {
  return (
    WRAPPERS.has(name) ||
    [
      "google.protobuf.Duration",
      "google.protobuf.Timestamp",
      "google.protobuf.Struct",
      "google.protobuf.Value",
      "google.protobuf.ListValue",
    ].includes(name)
  );
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  if (typeof value === "string") return `"${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

/** Converts proto3 JSON to a message of `type`, strictly. */
export function messageFromJson(
  type: protobuf.Type,
  json: unknown,
): { message?: protobuf.Message; issues: readonly ProtoIssue[] } {
  const converter = new Converter();
  const plain = converter.message(type, json, "");
  if (converter.issues.length > 0 || plain === undefined) return { issues: converter.issues };
  return { message: type.fromObject(plain), issues: [] };
}

/** Encodes proto3 JSON as a message of `type`; the bytes are what goes on the wire. */
export function encodeJson(
  type: protobuf.Type,
  json: unknown,
): { bytes?: Uint8Array; issues: readonly ProtoIssue[] } {
  const { message, issues } = messageFromJson(type, json);
  if (message === undefined) return { issues };
  return { bytes: type.encode(message).finish(), issues: [] };
}

// ---- decoding: message → proto3 JSON (proto field names) ----

/** A decoded google.protobuf.Value (camelCase fields, protobufjs's built-in definition) as JSON. */
function valueToJson(v: PlainObject): unknown {
  if ("nullValue" in v) return null;
  if ("numberValue" in v) return v.numberValue;
  if ("stringValue" in v) return v.stringValue;
  if ("boolValue" in v) return v.boolValue;
  if ("structValue" in v) return structToJson(v.structValue as PlainObject);
  if ("listValue" in v) return ((v.listValue as { values?: PlainObject[] }).values ?? []).map(valueToJson);
  return null;
}

function structToJson(s: PlainObject): PlainObject {
  const out: PlainObject = {};
  for (const [k, v] of Object.entries((s.fields as Record<string, PlainObject> | undefined) ?? {}))
    out[k] = valueToJson(v);
  return out;
}

function toLongNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "string") return Number(v);
  if (v !== null && typeof v === "object" && "toNumber" in v) return (v as { toNumber(): number }).toNumber();
  return 0;
}

/** A decoded message as proto3 JSON: proto field names, defaults omitted. */
export function messageToJson(type: protobuf.Type, message: protobuf.Message | PlainObject): unknown {
  const name = fullName(type);
  const m = message as unknown as PlainObject;
  if (name === "google.protobuf.Any") {
    const typeUrl = String(m.type_url ?? "");
    const inner = findType(typeNameOf(typeUrl));
    if (inner === undefined)
      return { "@type": typeUrl, value: Buffer.from((m.value as Uint8Array) ?? []).toString("base64") };
    const decoded = messageToJson(inner, inner.decode((m.value as Uint8Array) ?? new Uint8Array()));
    return isWellKnown(fullName(inner))
      ? { "@type": typeUrl, value: decoded }
      : { "@type": typeUrl, ...(decoded as PlainObject) };
  }
  if (name === "google.protobuf.Duration")
    return formatDuration(toLongNumber(m.seconds), Number(m.nanos ?? 0));
  if (name === "google.protobuf.Timestamp")
    return new Date(toLongNumber(m.seconds) * 1000 + Number(m.nanos ?? 0) / 1e6).toISOString();
  if (name === "google.protobuf.Struct")
    return structToJson(type.toObject(message as protobuf.Message) as PlainObject);
  if (name === "google.protobuf.Value")
    return valueToJson(type.toObject(message as protobuf.Message) as PlainObject);
  if (WRAPPERS.has(name)) {
    const inner = type.fields.value;
    return inner === undefined ? undefined : scalarToJson(inner, m.value ?? inner.defaultValue);
  }
  const out: PlainObject = {};
  for (const field of type.fieldsArray) {
    const v = m[field.name];
    if (v === undefined || v === null) continue;
    if (field.map) {
      const entries = Object.entries(v as PlainObject);
      if (entries.length === 0) continue;
      const obj: PlainObject = {};
      for (const [k, item] of entries) obj[k] = singleToJson(field, item);
      out[field.name] = obj;
    } else if (field.repeated) {
      const list = v as unknown[];
      if (list.length === 0) continue;
      out[field.name] = list.map((item) => singleToJson(field, item));
    } else {
      // Only what was on the wire (or set explicitly) is an own property; the rest are prototype defaults.
      if (!(field.resolvedType instanceof protobuf.Type) && !Object.hasOwn(m, field.name)) continue;
      out[field.name] = singleToJson(field, v);
    }
  }
  return out;
}

function singleToJson(field: protobuf.Field, v: unknown): unknown {
  const resolved = field.resolvedType;
  if (resolved instanceof protobuf.Type) return messageToJson(resolved, v as protobuf.Message);
  if (resolved instanceof protobuf.Enum) return resolved.valuesById[v as number] ?? v;
  return scalarToJson(field, v);
}

function scalarToJson(field: protobuf.Field, v: unknown): unknown {
  if (field.type === "bytes") return Buffer.from(v as Uint8Array).toString("base64");
  if (INT64_TYPES.has(field.type) || UINT64_TYPES.has(field.type)) {
    const n = toLongNumber(v);
    return Number.isSafeInteger(n) ? n : String(v);
  }
  return v;
}

/** Decodes wire bytes of `type` to proto3 JSON. */
export function decodeToJson(type: protobuf.Type, bytes: Uint8Array): unknown {
  return messageToJson(type, type.decode(bytes));
}

export { typeUrlOf };
