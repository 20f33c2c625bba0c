/**
 * Virtual host and route selection in a RouteConfiguration.
 *
 * Virtual hosts (Envoy docs, VirtualHost.domains): an exact domain first,
 * then suffix wildcards (`*.foo.com`, `*-bar.foo.com`) longest first, then
 * prefix wildcards (`foo.*`) longest first, then `*`. A wildcard never
 * matches the empty string. With `ignore_port_in_host_matching` the port of
 * the Host header is ignored for the choice.
 *
 * Routes are tried in order; the first whose path, header, query parameter
 * and runtime fraction matchers all match wins.
 */
import type {
  envoy_config_route_v3_Route as Route,
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
  envoy_config_route_v3_RouteMatch as RouteMatch,
  envoy_config_core_v3_RuntimeFractionalPercent as RuntimeFractionalPercent,
  envoy_config_route_v3_VirtualHost as VirtualHost,
} from "../proto/envoy-types.ts";
import { fullMatch, headerMatches, stringMatches } from "./matchers.ts";
import type { HeaderList } from "./types.ts";

export function stripPort(authority: string): string {
  if (authority.startsWith("[")) {
    const end = authority.indexOf("]");
    return end < 0 ? authority : authority.slice(0, end + 1);
  }
  const colon = authority.lastIndexOf(":");
  return colon >= 0 && /^\d+$/.test(authority.slice(colon + 1)) ? authority.slice(0, colon) : authority;
}

export function selectVirtualHost(
  routeConfig: RouteConfiguration,
  authority: string,
): VirtualHost | undefined {
  const host = (
    routeConfig.ignore_port_in_host_matching === true ? stripPort(authority) : authority
  ).toLowerCase();
  const vhosts = routeConfig.virtual_hosts ?? [];
  let suffix: { vh: VirtualHost; len: number } | undefined;
  let prefix: { vh: VirtualHost; len: number } | undefined;
  let star: VirtualHost | undefined;
  for (const vh of vhosts) {
    for (const raw of vh.domains ?? []) {
      const d = raw.toLowerCase();
      if (d === "*") {
        star ??= vh;
      } else if (d === host) {
        return vh;
      } else if (d.startsWith("*")) {
        const rest = d.slice(1);
        if (
          host.endsWith(rest) &&
          host.length > rest.length &&
          (suffix === undefined || rest.length > suffix.len)
        )
          suffix = { vh, len: rest.length };
      } else if (d.endsWith("*")) {
        const rest = d.slice(0, -1);
        if (
          host.startsWith(rest) &&
          host.length > rest.length &&
          (prefix === undefined || rest.length > prefix.len)
        )
          prefix = { vh, len: rest.length };
      }
    }
  }
  return suffix?.vh ?? prefix?.vh ?? star;
}

export function splitPath(path: string): { path: string; query: string } {
  const q = path.indexOf("?");
  return q < 0 ? { path, query: "" } : { path: path.slice(0, q), query: path.slice(q + 1) };
}

/** Query parameters as Envoy parses them (first value of each name counts for matching). */
export function queryParams(query: string): Map<string, string> {
  const out = new Map<string, string>();
  if (query === "") return out;
  for (const part of query.split("&")) {
    const eq = part.indexOf("=");
    const name = decodeURIComponentSafe(eq < 0 ? part : part.slice(0, eq));
    const value = decodeURIComponentSafe(eq < 0 ? "" : part.slice(eq + 1));
    if (!out.has(name)) out.set(name, value);
  }
  return out;
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

export interface PathMatchResult {
  readonly matched: boolean;
  /** The part of the path a prefix rewrite replaces. */
  readonly matchedPrefix?: string;
}

export function matchPath(match: RouteMatch, path: string): PathMatchResult {
  const caseSensitive = match.case_sensitive !== false;
  const p = caseSensitive ? path : path.toLowerCase();
  const norm = (s: unknown) => (caseSensitive ? String(s) : String(s).toLowerCase());
  if (match.prefix !== undefined) {
    const prefix = norm(match.prefix);
    return p.startsWith(prefix)
      ? { matched: true, matchedPrefix: path.slice(0, prefix.length) }
      : { matched: false };
  }
  if (match.path !== undefined) return { matched: p === norm(match.path) };
  if (match.path_separated_prefix !== undefined) {
    // Envoy: the path equals the prefix, or continues it with "/".
    const prefix = norm(match.path_separated_prefix);
    const ok = p === prefix || p.startsWith(`${prefix}/`);
    return ok ? { matched: true, matchedPrefix: path.slice(0, prefix.length) } : { matched: false };
  }
  const regex = match.safe_regex?.regex;
  if (typeof regex === "string") return { matched: fullMatch(regex, path) };
  return { matched: false };
}

function fractionMatches(fraction: RuntimeFractionalPercent | undefined, random: number): boolean {
  if (fraction === undefined) return true;
  const value = fraction.default_value ?? {};
  const denominator =
    value.denominator === "MILLION" ? 1_000_000 : value.denominator === "TEN_THOUSAND" ? 10_000 : 100;
  return random * denominator < Number(value.numerator ?? 0);
}

export interface RouteMatchResult {
  readonly route: Route;
  readonly matchedPrefix?: string;
}

export function selectRoute(
  vh: VirtualHost,
  method: string,
  path: string,
  headers: HeaderList,
  random: number,
  authority?: string,
): RouteMatchResult | undefined {
  const { path: pathOnly, query } = splitPath(path);
  const params = queryParams(query);
  // Envoy's header matchers see the pseudo-headers too (HTTP/1's Host is :authority).
  const withMethod: HeaderList = [
    [":method", method],
    [":path", path],
    ...(authority === undefined ? [] : [[":authority", authority] as const]),
    ...headers,
  ];
  for (const route of vh.routes ?? []) {
    const match = route.match ?? {};
    const p = matchPath(match, pathOnly);
    if (!p.matched) continue;
    if (!(match.headers ?? []).every((h) => headerMatches(h, withMethod))) continue;
    const queryOk = (match.query_parameters ?? []).every((q) => {
      const value = params.get(String(q.name));
      if (q.present_match !== undefined) return (value !== undefined) === (q.present_match === true);
      if (value === undefined) return false;
      return q.string_match === undefined ? true : stringMatches(q.string_match, value);
    });
    if (!queryOk) continue;
    if (!fractionMatches(match.runtime_fraction, random)) continue;
    return { route, ...(p.matchedPrefix === undefined ? {} : { matchedPrefix: p.matchedPrefix }) };
  }
  return undefined;
}
