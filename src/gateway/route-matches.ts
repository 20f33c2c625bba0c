/**
 * HTTPRoute matches → model matches. Regular expressions are checked with
 * RE2, the engine Envoy uses, so an expression Envoy would reject never
 * reaches it: the rule is reported invalid instead.
 */
import type { RouteMatch, StringMatch } from "../model/gateway.ts";
import { err, ok, type Result } from "../model/result.ts";
import { PATH_CHARACTERS } from "./filter-rules.ts";
import { re2 } from "./re2.ts";

interface MatchSpec {
  path?: { type?: string; value?: string };
  headers?: { type?: string; name: string; value: string }[];
  queryParams?: { type?: string; name: string; value: string }[];
  method?: string;
}

const re2Cache = new Map<string, string | undefined>();

/** Undefined when RE2 accepts the expression, else the error. */
export function re2Error(pattern: string): string | undefined {
  if (re2Cache.has(pattern)) return re2Cache.get(pattern);
  let problem: string | undefined;
  try {
    const RE2 = re2();
    new RE2(pattern, "u");
  } catch (error) {
    problem = (error as Error).message
      .replace(/^Invalid regular expression: /, "")
      .replace(/^\/.*\/u: /s, "");
  }
  if (re2Cache.size > 10_000) re2Cache.clear();
  re2Cache.set(pattern, problem);
  return problem;
}

function stringMatch(type: string | undefined, value: string, what: string): Result<StringMatch> {
  const t = type ?? "Exact";
  if (t === "Exact") return ok({ type: "Exact", value });
  if (t === "RegularExpression") {
    const problem = re2Error(value);
    return problem === undefined
      ? ok({ type: "RegularExpression", value })
      : err(`${what} regular expression "${value}" is invalid: ${problem}`);
  }
  return err(`${what} match type ${t} is not supported`);
}

/** The default match of a rule without matches: every path. */
export const MATCH_ALL: MatchSpec = { path: { type: "PathPrefix", value: "/" } };

export function translateMatch(spec: MatchSpec): Result<RouteMatch> {
  const pathType = spec.path?.type ?? "PathPrefix";
  const pathValue = spec.path?.value ?? "/";
  let path: RouteMatch["path"];
  if (pathType === "Exact" || pathType === "PathPrefix") {
    if (!pathValue.startsWith("/")) return err(`path "${pathValue}" must start with /`);
    if (!PATH_CHARACTERS.test(pathValue))
      return err(
        `path ${JSON.stringify(pathValue)} holds characters a path may not (spaces, control or raw non-ASCII characters)`,
      );
    path = { type: pathType, value: pathValue };
  } else if (pathType === "RegularExpression") {
    // Envoy refuses an empty safe_regex; refused here, in the route's own status, instead of the
    // match being left out at encoding.
    if (pathValue === "")
      return err(
        "path regular expression is empty (Envoy's regular expressions have at least 1 character; PathPrefix / matches every path)",
      );
    const problem = re2Error(pathValue);
    if (problem !== undefined) return err(`path regular expression "${pathValue}" is invalid: ${problem}`);
    path = { type: "RegularExpression", value: pathValue };
  } else {
    return err(`path match type ${pathType} is not supported`);
  }
  const headers: ({ name: string } & StringMatch)[] = [];
  const seenHeaders = new Set<string>();
  for (const h of spec.headers ?? []) {
    const name = h.name.toLowerCase();
    // The spec: with several matches on one header name, only the first counts.
    if (seenHeaders.has(name)) continue;
    seenHeaders.add(name);
    const m = stringMatch(h.type, h.value, `header ${h.name}`);
    if (!m.ok) return m;
    headers.push({ name, ...m.value });
  }
  const queryParams: ({ name: string } & StringMatch)[] = [];
  const seenParams = new Set<string>();
  for (const q of spec.queryParams ?? []) {
    // Query parameter names are case-sensitive; the first match on a name counts.
    if (seenParams.has(q.name)) continue;
    seenParams.add(q.name);
    const m = stringMatch(q.type, q.value, `query parameter ${q.name}`);
    if (!m.ok) return m;
    queryParams.push({ name: q.name, ...m.value });
  }
  return ok({ path, headers, queryParams, ...(spec.method === undefined ? {} : { method: spec.method }) });
}
