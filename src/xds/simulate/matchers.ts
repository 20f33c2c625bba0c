/**
 * Envoy's string and header matchers (envoy.type.matcher.v3.StringMatcher,
 * envoy.config.route.v3.HeaderMatcher), with RE2 regular expressions matched
 * against the whole value, as Envoy's safe_regex does.
 */
import type { RE2 } from "re2-wasm";
import { re2 } from "../../gateway/re2.ts";
import type {
  envoy_config_route_v3_HeaderMatcher as HeaderMatcher,
  envoy_type_matcher_v3_StringMatcher as StringMatcher,
} from "../proto/envoy-types.ts";
import type { HeaderList } from "./types.ts";

const compiled = new Map<string, RE2>();

/** Full-string RE2 match (Envoy's safe_regex semantics). */
export function fullMatch(pattern: string, value: string): boolean {
  let re = compiled.get(pattern);
  if (re === undefined) {
    const RE2Class = re2();
    re = new RE2Class(`^(?:${pattern})$`, "u");
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  return re.test(value);
}

/** Envoy StringMatcher: exact, prefix, suffix, contains, safe_regex; `ignore_case` where it applies. */
export function stringMatches(m: StringMatcher, value: string): boolean {
  const ignoreCase = m.ignore_case === true;
  const v = ignoreCase ? value.toLowerCase() : value;
  const norm = (s: unknown) => (ignoreCase ? String(s).toLowerCase() : String(s));
  if (m.exact !== undefined) return v === norm(m.exact);
  if (m.prefix !== undefined) return v.startsWith(norm(m.prefix));
  if (m.suffix !== undefined) return v.endsWith(norm(m.suffix));
  if (m.contains !== undefined) return v.includes(norm(m.contains));
  const regex = m.safe_regex?.regex;
  if (typeof regex === "string") return fullMatch(regex, value);
  return false;
}

/** All values of a header, joined with "," as Envoy's header matching sees them. */
export function headerValue(headers: HeaderList, name: string): string | undefined {
  const values = headers.filter(([n]) => n === name).map(([, v]) => v);
  return values.length === 0 ? undefined : values.join(",");
}

export function headerMatches(matcher: HeaderMatcher, headers: HeaderList): boolean {
  const name = String(matcher.name ?? "").toLowerCase();
  const value = headerValue(headers, name);
  let result: boolean;
  if (matcher.present_match !== undefined)
    result = (value !== undefined) === (matcher.present_match === true);
  else if (value === undefined) result = false;
  else if (matcher.string_match !== undefined) result = stringMatches(matcher.string_match, value);
  else if (matcher.exact_match !== undefined) result = value === matcher.exact_match;
  else if (matcher.range_match !== undefined) {
    const r = matcher.range_match;
    const n = Number(value);
    result = /^-?\d+$/.test(value) && n >= Number(r.start ?? 0) && n < Number(r.end ?? 0);
  } else result = true; // no value matcher: presence only
  // invert_match flips a value match; a missing header matches an inverted value matcher (Envoy HeaderUtility).
  if (matcher.invert_match === true && matcher.present_match === undefined) return !result;
  return result;
}
