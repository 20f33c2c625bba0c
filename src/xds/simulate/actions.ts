/**
 * What a matched route does to a request: header mutations (Envoy's
 * HeaderParser: removals first, then additions with their append action),
 * path and host rewrites, and the Location of a redirect (Envoy's
 * Http::Utility::newUri).
 */

import type {
  envoy_config_route_v3_WeightedCluster_ClusterWeight as ClusterWeight,
  envoy_config_route_v3_RedirectAction as RedirectAction,
  envoy_config_route_v3_Route as Route,
  envoy_config_route_v3_RouteAction as RouteAction,
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
  envoy_config_route_v3_VirtualHost as VirtualHost,
} from "../proto/envoy-types.ts";
import { fullMatchReplace } from "./regex-replace.ts";
import { splitPath, stripPort } from "./route-match.ts";
import type { HeaderList } from "./types.ts";

export interface HeaderOps {
  readonly add: readonly { readonly name: string; readonly value: string; readonly action: string }[];
  readonly remove: readonly string[];
}

/** The header mutation fields Route, VirtualHost, RouteConfiguration and ClusterWeight share. */
export type HeaderMutationFields = Pick<
  Route & VirtualHost & RouteConfiguration & ClusterWeight,
  | "request_headers_to_add"
  | "request_headers_to_remove"
  | "response_headers_to_add"
  | "response_headers_to_remove"
>;

export function headerOps(obj: HeaderMutationFields | undefined, prefix: "request" | "response"): HeaderOps {
  const toAdd = prefix === "request" ? obj?.request_headers_to_add : obj?.response_headers_to_add;
  const toRemove = prefix === "request" ? obj?.request_headers_to_remove : obj?.response_headers_to_remove;
  const add = (toAdd ?? []).map((h) => {
    const header = h.header ?? {};
    // `append` (deprecated bool) maps to the two corresponding actions; the default is APPEND_IF_EXISTS_OR_ADD.
    const action =
      typeof h.append_action === "string"
        ? h.append_action
        : h.append === false
          ? "OVERWRITE_IF_EXISTS_OR_ADD"
          : "APPEND_IF_EXISTS_OR_ADD";
    return { name: String(header.key ?? "").toLowerCase(), value: String(header.value ?? ""), action };
  });
  const remove = (toRemove ?? []).map((n) => n.toLowerCase());
  return { add, remove };
}

/** Applies one HeaderParser: removals, then additions in order. */
export function applyHeaderOps(headers: HeaderList, ops: HeaderOps): [string, string][] {
  let out: [string, string][] = headers.filter(([n]) => !ops.remove.includes(n)).map(([n, v]) => [n, v]);
  for (const h of ops.add) {
    const has = out.some(([n]) => n === h.name);
    switch (h.action) {
      case "OVERWRITE_IF_EXISTS_OR_ADD":
        out = out.filter(([n]) => n !== h.name);
        out.push([h.name, h.value]);
        break;
      case "OVERWRITE_IF_EXISTS":
        if (has) {
          out = out.filter(([n]) => n !== h.name);
          out.push([h.name, h.value]);
        }
        break;
      case "ADD_IF_ABSENT":
        if (!has) out.push([h.name, h.value]);
        break;
      default:
        out.push([h.name, h.value]);
    }
  }
  return out;
}

/** prefix_rewrite or regex_rewrite of a RouteAction or RedirectAction; undefined when none applies. */
export function rewritePath(
  action: Pick<RouteAction & RedirectAction, "prefix_rewrite" | "regex_rewrite">,
  path: string,
  matchedPrefix: string | undefined,
): string | undefined {
  const { path: pathOnly, query } = splitPath(path);
  const suffix = query === "" && !path.endsWith("?") ? "" : `?${query}`;
  if (
    typeof action.prefix_rewrite === "string" &&
    action.prefix_rewrite !== "" &&
    matchedPrefix !== undefined
  ) {
    return `${action.prefix_rewrite}${pathOnly.slice(matchedPrefix.length)}${suffix}`;
  }
  const rr = action.regex_rewrite;
  if (rr?.pattern?.regex !== undefined) {
    const rewritten = fullMatchReplace(rr.pattern.regex, pathOnly, rr.substitution ?? "");
    // Envoy keeps the original path when the rewrite yields nothing.
    return rewritten === "" ? undefined : `${rewritten}${suffix}`;
  }
  return undefined;
}

/** The Location of a redirect, as Envoy builds it. */
export function redirectLocation(
  redirect: RedirectAction,
  scheme: string,
  authority: string,
  path: string,
  matchedPrefix: string | undefined,
): string {
  const finalScheme =
    typeof redirect.scheme_redirect === "string" && redirect.scheme_redirect !== ""
      ? redirect.scheme_redirect
      : redirect.https_redirect === true
        ? "https"
        : scheme;
  const finalPort =
    redirect.port_redirect !== undefined && Number(redirect.port_redirect) !== 0
      ? `:${Number(redirect.port_redirect)}`
      : "";
  let host: string;
  if (typeof redirect.host_redirect === "string" && redirect.host_redirect !== "") {
    host = redirect.host_redirect;
  } else {
    // processRequestHost: drop the request's port when a port is given, or when the scheme changes
    // and the request's port was the default of the original scheme.
    const port = authority.slice(stripPort(authority).length);
    const removePort =
      finalPort !== "" ||
      (finalScheme !== scheme &&
        ((scheme === "https" && port === ":443") || (scheme === "http" && port === ":80")));
    host = removePort ? stripPort(authority) : authority;
  }
  let finalPath: string;
  const { query } = splitPath(path);
  if (typeof redirect.path_redirect === "string" && redirect.path_redirect !== "") {
    finalPath = redirect.path_redirect.includes("?")
      ? redirect.path_redirect
      : `${redirect.path_redirect}${query === "" ? "" : `?${query}`}`;
  } else {
    finalPath = rewritePath(redirect, path, matchedPrefix) ?? path;
  }
  if (!finalPath.startsWith("/")) finalPath = `/${finalPath}`;
  if (
    redirect.strip_query === true &&
    !(typeof redirect.path_redirect === "string" && redirect.path_redirect.includes("?"))
  ) {
    finalPath = splitPath(finalPath).path;
  }
  return `${finalScheme}://${host}${finalPort}${finalPath}`;
}

const REDIRECT_STATUS: Readonly<Record<NonNullable<RedirectAction["response_code"]>, number>> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

export function redirectStatus(redirect: RedirectAction): number {
  return REDIRECT_STATUS[redirect.response_code ?? "MOVED_PERMANENTLY"] ?? 301;
}
