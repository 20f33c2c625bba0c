/**
 * The `validate.rules` (protoc-gen-validate) constraints of the Envoy API,
 * checked on proto3 JSON values. Envoy runs these checks on every resource it
 * receives and NACKs the whole update on the first violation, so strait runs
 * them before publishing.
 *
 * protobufjs exposes a field's rules as flattened options, e.g.
 * `(validate.rules).string.min_len: 1` or
 * `(validate.rules).repeated.items.string.well_known_regex: "HTTP_HEADER_NAME"`.
 */
import protobuf from "protobufjs";
import { HEADER_NAME, HEADER_VALUE_LOOSE, HEADER_VALUE_STRICT } from "../../net/http-header.ts";

type Report = (path: string, message: string) => void;
type Rules = ReadonlyMap<string, unknown>;

const RULES_PREFIX = "(validate.rules).";

/** Fields do not change once the protos are loaded: their rules are worked out once. */
const RULES = new WeakMap<protobuf.Field, Rules>();

/** Rules of a field as `kind.rule` → value, e.g. `string.min_len` → 1. */
function rulesOf(field: protobuf.Field): Rules {
  let rules = RULES.get(field);
  if (rules === undefined) {
    rules = readRules(field);
    RULES.set(field, rules);
  }
  return rules;
}

function readRules(field: protobuf.Field): Rules {
  const rules = new Map<string, unknown>();
  for (const [key, value] of Object.entries(field.options ?? {})) {
    if (key.startsWith(RULES_PREFIX)) rules.set(key.slice(RULES_PREFIX.length), value);
  }
  // parsedOptions holds repeated option values (e.g. `in: [1, 2]`) that the flattened form keeps only once.
  for (const parsed of (field.parsedOptions ?? []) as Record<string, unknown>[]) {
    const rule = parsed["(validate.rules)"];
    if (rule !== undefined) flatten(rule, "", rules);
  }
  return rules;
}

function flatten(value: unknown, prefix: string, out: Map<string, unknown>): void {
  if (value !== null && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length > 0) {
    for (const [k, v] of Object.entries(value)) flatten(v, prefix === "" ? k : `${prefix}.${k}`, out);
    return;
  }
  if (!out.has(prefix) || Array.isArray(value)) out.set(prefix, value);
}

const SUB_RULES = new WeakMap<Rules, Map<string, Rules>>();

/** The rules under a prefix, re-rooted: `repeated.items.string.x` → `string.x` (worked out once per field). */
function subRules(rules: Rules, prefix: string): Rules {
  let byPrefix = SUB_RULES.get(rules);
  if (byPrefix === undefined) {
    byPrefix = new Map();
    SUB_RULES.set(rules, byPrefix);
  }
  let out = byPrefix.get(prefix);
  if (out === undefined) {
    const sub = new Map<string, unknown>();
    for (const [k, v] of rules) if (k.startsWith(`${prefix}.`)) sub.set(k.slice(prefix.length + 1), v);
    out = sub;
    byPrefix.set(prefix, out);
  }
  return out;
}

const RULE_PARTS = new Map<string, readonly [string, string | undefined]>();

/** `string.min_len` → [`string`, `min_len`] (the same few hundred rule names, over and over). */
function ruleParts(rule: string): readonly [string, string | undefined] {
  let parts = RULE_PARTS.get(rule);
  if (parts === undefined) {
    const [kind = "", name] = rule.split(".", 2);
    parts = [kind, name];
    RULE_PARTS.set(rule, parts);
  }
  return parts;
}

const PATTERNS = new Map<string, RegExp | undefined>();

/** A `pattern` rule as a JavaScript RegExp, compiled once; undefined for RE2-only constructs (Envoy checks those). */
function patternOf(source: string): RegExp | undefined {
  if (PATTERNS.has(source)) return PATTERNS.get(source);
  let re: RegExp | undefined;
  try {
    re = new RegExp(source, "u");
  } catch {
    re = undefined;
  }
  PATTERNS.set(source, re);
  return re;
}

/** Length in code points, as PGV counts (no array for the common string without surrogates). */
function codePoints(value: string): number {
  return /[\uD800-\uDFFF]/.test(value) ? [...value].length : value.length;
}

function asList(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [value];
}

function checkString(rules: Rules, value: string, path: string, report: Report): void {
  let length = -1;
  let bytes = -1;
  for (const [rule, limit] of rules) {
    const [kind, name] = ruleParts(rule);
    if (name === "min_len" || name === "max_len" || name === "len")
      length = length < 0 ? codePoints(value) : length;
    if (name === "min_bytes" || name === "max_bytes") bytes = bytes < 0 ? Buffer.byteLength(value) : bytes;
    if (kind !== "string" || name === undefined) continue;
    const n = Number(limit);
    switch (name) {
      case "min_len":
        if (length < n) report(path, `must be at least ${n} characters long`);
        break;
      case "max_len":
        if (length > n) report(path, `must be at most ${n} characters long`);
        break;
      case "len":
        if (length !== n) report(path, `must be exactly ${n} characters long`);
        break;
      case "min_bytes":
        if (bytes < n) report(path, `must be at least ${n} bytes long`);
        break;
      case "max_bytes":
        if (bytes > n) report(path, `must be at most ${n} bytes long`);
        break;
      case "prefix":
        if (!value.startsWith(String(limit))) report(path, `must start with "${String(limit)}"`);
        break;
      case "suffix":
        if (!value.endsWith(String(limit))) report(path, `must end with "${String(limit)}"`);
        break;
      case "contains":
        if (!value.includes(String(limit))) report(path, `must contain "${String(limit)}"`);
        break;
      case "not_contains":
        if (value.includes(String(limit))) report(path, `must not contain "${String(limit)}"`);
        break;
      case "const":
        if (value !== limit) report(path, `must be "${String(limit)}"`);
        break;
      case "in":
        if (!asList(limit).includes(value)) report(path, `must be one of ${asList(limit).join(", ")}`);
        break;
      case "not_in":
        if (asList(limit).includes(value)) report(path, `must not be ${value}`);
        break;
      case "pattern": {
        const re = patternOf(String(limit)); // undefined: an RE2-only construct; Envoy checks it, we cannot here
        if (re !== undefined && !re.test(value)) report(path, `must match ${String(limit)}`);
        break;
      }
      case "well_known_regex": {
        const strict = rules.get("string.strict") !== false;
        const re =
          limit === "HTTP_HEADER_NAME" || limit === 1
            ? HEADER_NAME
            : strict
              ? HEADER_VALUE_STRICT
              : HEADER_VALUE_LOOSE;
        if (!re.test(value))
          report(path, `is not a valid HTTP header ${re === HEADER_NAME ? "name" : "value"}`);
        break;
      }
      case "address":
      case "ip":
      case "ipv4":
      case "ipv6":
      case "hostname":
      case "uri":
      case "email":
        if (limit === true && !checkFormat(name, value)) report(path, `must be a valid ${name}`);
        break;
      default:
        break;
    }
  }
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HOSTNAME =
  /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$/;

function checkFormat(name: string, value: string): boolean {
  const ipv6 = value.includes(":") && /^[0-9a-fA-F:.]+$/.test(value);
  switch (name) {
    case "ipv4":
      return IPV4.test(value);
    case "ipv6":
      return ipv6;
    case "ip":
      return IPV4.test(value) || ipv6;
    case "hostname":
      return HOSTNAME.test(value);
    case "address":
      return IPV4.test(value) || ipv6 || HOSTNAME.test(value);
    case "uri":
      return URL.canParse(value);
    case "email":
      return /^[^@\s]+@[^@\s]+$/.test(value);
    default:
      return true;
  }
}

const NUMERIC_KINDS = new Set([
  "int32",
  "int64",
  "uint32",
  "uint64",
  "sint32",
  "sint64",
  "fixed32",
  "fixed64",
  "sfixed32",
  "sfixed64",
  "double",
  "float",
]);

function checkNumber(rules: Rules, value: number, path: string, report: Report): void {
  for (const [rule, limit] of rules) {
    const [kind, name] = ruleParts(rule);
    if (kind === undefined || !NUMERIC_KINDS.has(kind) || name === undefined) continue;
    const n = Number(limit);
    if (name === "gt" && !(value > n)) report(path, `must be greater than ${n}`);
    if (name === "gte" && !(value >= n)) report(path, `must be at least ${n}`);
    if (name === "lt" && !(value < n)) report(path, `must be less than ${n}`);
    if (name === "lte" && !(value <= n)) report(path, `must be at most ${n}`);
    if (name === "const" && value !== n) report(path, `must be ${n}`);
    if (name === "in" && !asList(limit).map(Number).includes(value))
      report(path, `must be one of ${asList(limit).join(", ")}`);
    if (name === "not_in" && asList(limit).map(Number).includes(value)) report(path, `must not be ${value}`);
  }
}

function durationSeconds(rules: Rules, name: string): number | undefined {
  const s = rules.get(`duration.${name}.seconds`);
  const n = rules.get(`duration.${name}.nanos`);
  if (s === undefined && n === undefined && !rules.has(`duration.${name}`)) return undefined;
  return Number(s ?? 0) + Number(n ?? 0) / 1e9;
}

function checkDuration(rules: Rules, value: string, path: string, report: Report): void {
  const m = /^(-?\d+(?:\.\d+)?)s$/.exec(value);
  if (m === null) return; // malformed durations are reported by the converter
  const v = Number(m[1]);
  const gt = durationSeconds(rules, "gt");
  const gte = durationSeconds(rules, "gte");
  const lt = durationSeconds(rules, "lt");
  const lte = durationSeconds(rules, "lte");
  if (gt !== undefined && !(v > gt)) report(path, `must be longer than ${gt}s`);
  if (gte !== undefined && !(v >= gte)) report(path, `must be at least ${gte}s`);
  if (lt !== undefined && !(v < lt)) report(path, `must be shorter than ${lt}s`);
  if (lte !== undefined && !(v <= lte)) report(path, `must be at most ${lte}s`);
}

function numeric(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return undefined;
}

/** Checks one value (not a list or map) against rules for its type. */
function checkValue(field: protobuf.Field, rules: Rules, value: unknown, path: string, report: Report): void {
  if (value === undefined || value === null) return;
  const resolved = field.resolvedType;
  const typeName = resolved instanceof protobuf.Type ? resolved.fullName.replace(/^\./, "") : "";
  if (typeName === "google.protobuf.Duration" && typeof value === "string") {
    checkDuration(rules, value, path, report);
    return;
  }
  if (typeName === "google.protobuf.Any" && typeof value === "object") {
    const allowed = rules.get("any.in");
    const type = (value as { "@type"?: unknown })["@type"];
    if (allowed !== undefined && !asList(allowed).includes(type))
      report(path, `@type must be one of ${asList(allowed).join(", ")}`);
    return;
  }
  if (resolved instanceof protobuf.Enum) {
    const n = typeof value === "string" ? resolved.values[value] : (value as number);
    if (
      rules.get("enum.defined_only") === true &&
      (n === undefined || resolved.valuesById[n] === undefined)
    ) {
      report(path, `must be a defined ${resolved.name} value`);
    }
    const inList = rules.get("enum.in");
    if (inList !== undefined && n !== undefined && !asList(inList).map(Number).includes(n))
      report(path, `must be one of ${asList(inList).join(", ")}`);
    const notIn = rules.get("enum.not_in");
    if (notIn !== undefined && n !== undefined && asList(notIn).map(Number).includes(n))
      report(path, `must not be ${String(value)}`);
    return;
  }
  // Scalars and wrapper types (whose rules are the scalar rules of their value).
  if (typeof value === "string") {
    if (field.type === "bytes" || typeName === "google.protobuf.BytesValue") return;
    const n = numeric(value);
    if (n !== undefined && (NUMERIC_KINDS.has(field.type) || typeName.endsWith("Value")))
      checkNumber(rules, n, path, report);
    else checkString(rules, value, path, report);
    return;
  }
  if (typeof value === "number") checkNumber(rules, value, path, report);
}

/**
 * Checks the rules of one field. `value` is the field's JSON value, or
 * undefined when the field is not set (so `required` rules can fire).
 */
const CHECKED_WHEN_UNSET = new WeakMap<protobuf.Field, boolean>();

/** Whether checkFieldRules can report anything for the field when it is not set (required, a minimum length). */
export function checkedWhenUnset(field: protobuf.Field): boolean {
  let checked = CHECKED_WHEN_UNSET.get(field);
  if (checked === undefined) {
    let reported = false;
    checkFieldRules(field, undefined, "", () => {
      reported = true;
    });
    checked = reported;
    CHECKED_WHEN_UNSET.set(field, checked);
  }
  return checked;
}

export function checkFieldRules(field: protobuf.Field, value: unknown, path: string, report: Report): void {
  const rules = rulesOf(field);
  if (rules.size === 0) return;
  const unset = value === undefined || value === null;
  if (unset) {
    if (
      rules.get("message.required") === true ||
      rules.get("duration.required") === true ||
      rules.get("any.required") === true ||
      rules.get("timestamp.required") === true
    ) {
      report(path, "is required");
    }
    for (const [rule, limit] of rules) {
      const [kind, name] = ruleParts(rule);
      // Unset strings/lists are empty: length minimums still apply (PGV semantics).
      if (kind === "string" && (name === "min_len" || name === "min_bytes") && Number(limit) > 0)
        report(path, `must be at least ${Number(limit)} ${name === "min_len" ? "characters" : "bytes"} long`);
      if (kind === "repeated" && name === "min_items" && Number(limit) > 0)
        report(path, `must have at least ${Number(limit)} items`);
      if (kind === "map" && name === "min_pairs" && Number(limit) > 0)
        report(path, `must have at least ${Number(limit)} entries`);
    }
    return;
  }
  if (field.map && value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    const min = rules.get("map.min_pairs");
    const max = rules.get("map.max_pairs");
    if (min !== undefined && entries.length < Number(min))
      report(path, `must have at least ${Number(min)} entries`);
    if (max !== undefined && entries.length > Number(max))
      report(path, `must have at most ${Number(max)} entries`);
    const keyRules = subRules(rules, "map.keys");
    const valueRules = subRules(rules, "map.values");
    for (const [k, v] of entries) {
      if (keyRules.size > 0) checkString(keyRules, k, `${path}["${k}"] (key)`, report);
      if (valueRules.size > 0) checkValue(field, valueRules, v, `${path}["${k}"]`, report);
    }
    return;
  }
  if (field.repeated && Array.isArray(value)) {
    const min = rules.get("repeated.min_items");
    const max = rules.get("repeated.max_items");
    if (min !== undefined && value.length < Number(min))
      report(path, `must have at least ${Number(min)} items`);
    if (max !== undefined && value.length > Number(max))
      report(path, `must have at most ${Number(max)} items`);
    if (rules.get("repeated.unique") === true) {
      const seen = new Set(value.map((v) => JSON.stringify(v)));
      if (seen.size !== value.length) report(path, "items must be unique");
    }
    const itemRules = subRules(rules, "repeated.items");
    if (itemRules.size > 0) {
      for (const [i, v] of value.entries()) checkValue(field, itemRules, v, `${path}[${i}]`, report);
    }
    return;
  }
  checkValue(field, rules, value, path, report);
}

/** A oneof marked `(validate.required)` must have exactly one member set. */
export function checkOneofRequired(
  oneof: protobuf.OneOf,
  isSet: boolean,
  path: string,
  report: Report,
): void {
  if (isSet || oneof.options?.["(validate.required)"] !== true) return;
  report(path === "" ? oneof.name : `${path}.${oneof.name}`, `one of ${oneof.oneof.join(", ")} is required`);
}
