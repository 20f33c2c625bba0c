/**
 * Model routes → Envoy routes (envoy.config.route.v3.Route), in the order the
 * model gives (the Gateway API's precedence).
 */
import type {
  Cors,
  ForwardAction,
  HeaderMutation,
  RedirectAction,
  Route,
  RouteMatch,
  WeightedBackend,
} from "../../model/gateway.ts";
import type {
  AnyJson,
  envoy_config_route_v3_WeightedCluster_ClusterWeight as ClusterWeight,
  envoy_config_route_v3_RedirectAction as EnvoyRedirectAction,
  envoy_config_route_v3_Route as EnvoyRoute,
  envoy_config_route_v3_RouteMatch as EnvoyRouteMatch,
  envoy_config_route_v3_HeaderMatcher as HeaderMatcher,
  envoy_config_core_v3_HeaderValueOption as HeaderValueOption,
  envoy_config_route_v3_RedirectAction_RedirectResponseCode as RedirectResponseCode,
  envoy_config_route_v3_RetryPolicy as RetryPolicy,
  envoy_config_route_v3_RouteAction as RouteAction,
  envoy_type_matcher_v3_StringMatcher as StringMatcher,
} from "../proto/envoy-types.ts";
import { formatDuration } from "../proto/json-codec.ts";
import { packAny } from "../proto/pack-any.ts";

/**
 * Cluster name for a backend that does not resolve. No cluster has this name,
 * so Envoy answers with the route's cluster_not_found_response_code (500),
 * exactly for the share of requests that backend's weight gives it.
 */
export const INVALID_BACKEND_CLUSTER = "strait/invalid-backend";

/** `text` as an RE2 pattern matching exactly it. */
export function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function pathMatch(match: RouteMatch): EnvoyRouteMatch {
  const p = match.path;
  if (p.type === "Exact") return { path: p.value };
  if (p.type === "RegularExpression") return { safe_regex: { regex: p.value } };
  // PathPrefix matches whole segments: /foo matches /foo and /foo/bar, not /foobar.
  const trimmed = p.value.replace(/\/+$/, "");
  return trimmed === "" ? { prefix: "/" } : { path_separated_prefix: trimmed };
}

function stringMatch(m: { type: "Exact" | "RegularExpression"; value: string }): StringMatcher {
  return m.type === "Exact" ? { exact: m.value } : { safe_regex: { regex: m.value } };
}

function routeMatch(match: RouteMatch): EnvoyRouteMatch {
  const headers: HeaderMatcher[] = match.headers.map((h) => ({ name: h.name, string_match: stringMatch(h) }));
  if (match.method !== undefined) headers.push({ name: ":method", string_match: { exact: match.method } });
  return {
    ...pathMatch(match),
    ...(headers.length === 0 ? {} : { headers }),
    ...(match.queryParams.length === 0
      ? {}
      : { query_parameters: match.queryParams.map((q) => ({ name: q.name, string_match: stringMatch(q) })) }),
  };
}

/** Gateway API set → overwrite, add → append; removals go to the *_to_remove lists. */
function headersToAdd(m: HeaderMutation): HeaderValueOption[] {
  return [
    ...m.set.map(
      (h): HeaderValueOption => ({
        header: { key: h.name, value: h.value },
        append_action: "OVERWRITE_IF_EXISTS_OR_ADD",
      }),
    ),
    ...m.add.map(
      (h): HeaderValueOption => ({
        header: { key: h.name, value: h.value },
        append_action: "APPEND_IF_EXISTS_OR_ADD",
      }),
    ),
  ];
}

/** The fields Route and ClusterWeight share for header mutations. */
type MutationFields = Pick<
  EnvoyRoute & ClusterWeight,
  | "request_headers_to_add"
  | "request_headers_to_remove"
  | "response_headers_to_add"
  | "response_headers_to_remove"
>;

function mutationFields(prefix: "request" | "response", m: HeaderMutation | undefined): MutationFields {
  if (m === undefined) return {};
  const add = headersToAdd(m);
  const remove = [...m.remove];
  if (prefix === "request")
    return {
      ...(add.length === 0 ? {} : { request_headers_to_add: add }),
      ...(remove.length === 0 ? {} : { request_headers_to_remove: remove }),
    };
  return {
    ...(add.length === 0 ? {} : { response_headers_to_add: add }),
    ...(remove.length === 0 ? {} : { response_headers_to_remove: remove }),
  };
}

function weightedCluster(b: WeightedBackend): ClusterWeight {
  return {
    name: b.cluster ?? INVALID_BACKEND_CLUSTER,
    weight: b.weight,
    ...mutationFields("request", b.requestHeaders),
    ...mutationFields("response", b.responseHeaders),
  };
}

/** Rewrites for a ReplacePrefixMatch: a plain prefix swap, except when the replacement is `/`, which would double the slash. */
function prefixRewrite(prefix: string, value: string): Pick<RouteAction, "regex_rewrite" | "prefix_rewrite"> {
  const from = prefix.replace(/\/+$/, "");
  const to = value.replace(/\/+$/, "");
  if (to === "")
    return { regex_rewrite: { pattern: { regex: `^${escapeRegex(from)}/*` }, substitution: "/" } };
  return from === ""
    ? { regex_rewrite: { pattern: { regex: "^/" }, substitution: `${to}/` } }
    : { prefix_rewrite: to };
}

function forward(action: ForwardAction): RouteAction {
  const valid = action.backends.filter((b) => b.cluster !== undefined);
  const simple =
    action.backends.length === 1 &&
    valid.length === 1 &&
    valid[0]?.requestHeaders === undefined &&
    valid[0]?.responseHeaders === undefined;
  const retry = action.retry;
  const retryPolicy: RetryPolicy | undefined =
    retry !== undefined
      ? {
          retry_on: retry.codes.length > 0 ? "retriable-status-codes" : "5xx",
          ...(retry.codes.length > 0 ? { retriable_status_codes: [...retry.codes] } : {}),
          num_retries: retry.attempts,
          ...(retry.backoff === undefined
            ? {}
            : {
                retry_back_off: {
                  base_interval: formatDuration(
                    Math.floor(retry.backoff),
                    Math.round((retry.backoff % 1) * 1e9),
                  ),
                },
              }),
          ...(action.backendTimeout === undefined ? {} : { per_try_timeout: seconds(action.backendTimeout) }),
        }
      : action.backendTimeout !== undefined && action.backendTimeout > 0
        ? { num_retries: 0, per_try_timeout: seconds(action.backendTimeout) }
        : undefined;
  const rewrite: Pick<RouteAction, "regex_rewrite" | "prefix_rewrite"> =
    action.pathRewrite === undefined
      ? {}
      : action.pathRewrite.type === "ReplaceFullPath"
        ? { regex_rewrite: { pattern: { regex: "^/.*$" }, substitution: action.pathRewrite.value } }
        : prefixRewrite(action.pathRewrite.prefix, action.pathRewrite.value);
  return {
    ...(simple
      ? { cluster: valid[0]?.cluster ?? INVALID_BACKEND_CLUSTER }
      : { weighted_clusters: { clusters: action.backends.map(weightedCluster) } }),
    cluster_not_found_response_code: "INTERNAL_SERVER_ERROR",
    ...rewrite,
    ...(action.hostRewrite === undefined ? {} : { host_rewrite_literal: action.hostRewrite }),
    ...(action.requestTimeout === undefined ? {} : { timeout: seconds(action.requestTimeout) }),
    ...(retryPolicy === undefined ? {} : { retry_policy: retryPolicy }),
    ...(action.mirrors.length === 0
      ? {}
      : {
          request_mirror_policies: action.mirrors.map((m) => ({
            cluster: m.cluster,
            ...(m.fraction >= 1
              ? {}
              : {
                  runtime_fraction: {
                    default_value: { numerator: Math.round(m.fraction * 1_000_000), denominator: "MILLION" },
                  },
                }),
          })),
        }),
  };
}

function seconds(value: number): string {
  return formatDuration(Math.floor(value), Math.round((value - Math.floor(value)) * 1e9));
}

const RESPONSE_CODES: Readonly<Record<number, RedirectResponseCode>> = {
  301: "MOVED_PERMANENTLY",
  302: "FOUND",
  303: "SEE_OTHER",
  307: "TEMPORARY_REDIRECT",
  308: "PERMANENT_REDIRECT",
};

function redirect(action: RedirectAction): EnvoyRedirectAction {
  const path: Pick<EnvoyRedirectAction, "path_redirect" | "regex_rewrite" | "prefix_rewrite"> =
    action.path === undefined
      ? {}
      : action.path.type === "ReplaceFullPath"
        ? { path_redirect: action.path.value }
        : prefixRewrite(action.path.prefix, action.path.value);
  // port 0: the scheme's default. Envoy then keeps the request Host's port unless told a port,
  // so without a host redirect the default port is set explicitly (":80" is equivalent to none).
  const port =
    action.port === 0
      ? action.hostname === undefined
        ? action.scheme === "https"
          ? 443
          : 80
        : undefined
      : action.port;
  return {
    ...(action.scheme === undefined ? {} : { scheme_redirect: action.scheme }),
    ...(action.hostname === undefined ? {} : { host_redirect: action.hostname }),
    ...(port === undefined ? {} : { port_redirect: port }),
    ...path,
    response_code: RESPONSE_CODES[action.statusCode] ?? "FOUND",
  };
}

/** Origins as Envoy string matchers: `*` anything, `https://*.bar.com` a label wildcard. */
function originMatchers(origins: readonly string[]): StringMatcher[] {
  return origins.map((o) => {
    if (o === "*") return { safe_regex: { regex: ".*" } };
    if (!o.includes("*")) return { exact: o };
    return { safe_regex: { regex: o.split("*").map(escapeRegex).join("[^/]+") } };
  });
}

export function corsPolicy(cors: Cors): AnyJson {
  return packAny("envoy.extensions.filters.http.cors.v3.CorsPolicy", {
    allow_origin_string_match: originMatchers(cors.allowOrigins),
    ...(cors.allowMethods.length === 0 ? {} : { allow_methods: cors.allowMethods.join(", ") }),
    ...(cors.allowHeaders.length === 0 ? {} : { allow_headers: cors.allowHeaders.join(", ") }),
    ...(cors.exposeHeaders.length === 0 ? {} : { expose_headers: cors.exposeHeaders.join(", ") }),
    max_age: String(cors.maxAge ?? 5),
    ...(cors.allowCredentials ? { allow_credentials: true } : {}),
    // A preflight from an origin the policy does not allow is answered by the CORS filter itself,
    // without Access-Control-Allow-Origin, instead of reaching the backend.
    forward_not_matching_preflights: false,
  });
}

export function buildRoute(route: Route): EnvoyRoute {
  const action = route.action;
  let actionField: Pick<EnvoyRoute, "route" | "redirect" | "direct_response">;
  if (action.kind === "forward") actionField = { route: forward(action) };
  else if (action.kind === "redirect") actionField = { redirect: redirect(action) };
  else
    actionField = {
      direct_response: {
        status: action.status,
        ...(action.body === undefined ? {} : { body: { inline_string: action.body } }),
      },
    };
  return {
    name: route.name,
    match: routeMatch(route.match),
    ...actionField,
    ...mutationFields("request", route.requestHeaders),
    ...mutationFields("response", route.responseHeaders),
    ...(route.cors === undefined
      ? {}
      : { typed_per_filter_config: { "envoy.filters.http.cors": corsPolicy(route.cors) } }),
  };
}
