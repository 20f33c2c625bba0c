/**
 * Whether an HTTP request matches an HttpRule, as the node's Envoy decides
 * it from the RBAC filter strait configures: `method`, `path` and `host` are
 * RE2 expressions matched against the whole `:method`, `:path` (query
 * included) and `:authority`; a header condition is an exact value or
 * presence; a `never` condition fails; a LOG mismatch does not count.
 */
import type { HttpRule } from "../model/endpoint-policy.ts";
import { fullMatch } from "../xds/simulate/matchers.ts";

export interface HttpRequest {
  readonly method: string;
  readonly path: string;
  /** `:authority`. */
  readonly host: string;
  /** Lower-case names. */
  readonly headers: Readonly<Record<string, string>>;
}

export function httpRuleMatches(rule: HttpRule, request: HttpRequest): boolean {
  if (rule.method !== undefined && !fullMatch(rule.method, request.method)) return false;
  if (rule.path !== undefined && !fullMatch(rule.path, request.path)) return false;
  if (rule.host !== undefined && !fullMatch(rule.host, request.host)) return false;
  for (const h of rule.headers) {
    if (h.mismatch === "LOG") continue;
    if (h.never === true) return false;
    const value = request.headers[h.name.toLowerCase()];
    if (value === undefined) return false;
    if (h.value !== undefined && value !== h.value) return false;
  }
  return true;
}

/** `GET /path` (and optionally `Host: x` via `host`) → a request. */
export function parseHttpRequest(text: string, host = ""): HttpRequest | undefined {
  const m = /^\s*([A-Za-z]+)\s+(\S+)\s*$/.exec(text);
  if (m === null) return undefined;
  return { method: (m[1] ?? "").toUpperCase(), path: m[2] ?? "/", host, headers: {} };
}
