/**
 * GAMMA routes for proxyless gRPC clients: the model routes of a Service
 * port's producer mesh chain → the routes of the port's proxyless route
 * configuration, limited to what gRPC's xDS client does (gRFC A28 routing
 * and traffic splitting, A31 timeouts), because gRPC NACKs a whole
 * RouteConfiguration with one route it cannot take (grpc-js-xds validates
 * path specifiers, header matchers, actions: only `route`).
 *
 * What each route feature becomes, and why:
 * - Path: Exact → `path`, RegularExpression → `safe_regex` (both full-match
 *   in gRPC as in Envoy); PathPrefix `/x` matches whole segments, which gRPC
 *   has no `path_separated_prefix` for: `safe_regex` `/x(/.*)?`.
 * - Headers: `string_match` exact or `safe_regex`, as gRPC matches its
 *   metadata (a `-bin` header never matches there; `content-type` is
 *   `application/grpc`).
 * - Method: every gRPC call is a POST: a POST match is dropped, any other
 *   method never matches, so the route is left out. Query parameters: a gRPC
 *   call has none, so such a route is left out too (it never matches).
 * - Weighted backends: `weighted_clusters` (A28); a backend that does not
 *   resolve keeps its share, sent to a cluster without endpoints, so those
 *   calls fail UNAVAILABLE as Envoy answers them 500. The request timeout becomes
 *   `max_stream_duration` (A31: the call's deadline is the smaller one).
 * - Not done by gRPC and left out, the call still routed: request and
 *   response header modifiers (gRPC ignores them), mirrors, the host rewrite,
 *   CORS (its `typed_per_filter_config` would make the client NACK), the
 *   backend timeout, and retries (HTTPRoute retries name HTTP codes; gRPC
 *   retries on gRPC status codes only).
 * - Refused, the route kept so its calls go nowhere else: redirects, direct
 *   responses and path rewrites (gRPC NACKs the first two, ignores the third,
 *   which would call the wrong method): the route sends to a cluster without
 *   endpoints, `strait/proxyless-unsupported/<what>`, and its calls fail
 *   UNAVAILABLE. These clusters are served (empty), not left to "does not
 *   exist": gRPC learns that a never-seen cluster does not exist only after
 *   its 15-second resource timer, and holds the whole channel's resolution
 *   until then.
 * Every left-out feature and refused route is a note, for the log and a metric.
 */
import type { ForwardAction, HeaderMutation, Route, RouteMatch } from "../../model/gateway.ts";
import type {
  envoy_config_route_v3_Route as EnvoyRoute,
  envoy_config_route_v3_RouteMatch as EnvoyRouteMatch,
  envoy_config_route_v3_HeaderMatcher as HeaderMatcher,
  envoy_config_route_v3_RouteAction as RouteAction,
} from "../proto/envoy-types.ts";
import { formatDuration } from "../proto/json-codec.ts";
import { escapeRegex, INVALID_BACKEND_CLUSTER } from "./route.ts";

/** Prefix of the clusters a refused route sends to; served to proxyless clients without endpoints. */
export const PROXYLESS_UNSUPPORTED_CLUSTER = "strait/proxyless-unsupported";

/** What the proxyless routes could not carry of one model route. */
export interface ProxylessRouteNote {
  /** The model route's name (`namespace/route/rule/match`). */
  readonly route: string;
  /** left-out: features not applied, the call still routed; skipped: the route never matches a gRPC call; refused: its calls fail. */
  readonly kind: "left-out" | "skipped" | "refused";
  readonly detail: string;
}

export interface ProxylessRoutes {
  readonly routes: readonly EnvoyRoute[];
  /** The Service port clusters the routes send to, sorted. */
  readonly clusters: readonly string[];
  /** The clusters of refused routes and invalid backends, sorted: served without endpoints. */
  readonly empty: readonly string[];
  readonly notes: readonly ProxylessRouteNote[];
}

function pathMatch(match: RouteMatch): EnvoyRouteMatch {
  const p = match.path;
  if (p.type === "Exact") return { path: p.value };
  if (p.type === "RegularExpression") return { safe_regex: { regex: p.value } };
  const trimmed = p.value.replace(/\/+$/, "");
  return trimmed === "" ? { prefix: "/" } : { safe_regex: { regex: `${escapeRegex(trimmed)}(/.*)?` } };
}

function routeMatch(match: RouteMatch): EnvoyRouteMatch {
  const headers: HeaderMatcher[] = match.headers.map((h) => ({
    name: h.name,
    string_match: h.type === "Exact" ? { exact: h.value } : { safe_regex: { regex: h.value } },
  }));
  return { ...pathMatch(match), ...(headers.length === 0 ? {} : { headers }) };
}

function mutates(m: HeaderMutation | undefined): boolean {
  return m !== undefined && m.set.length + m.add.length + m.remove.length > 0;
}

function seconds(value: number): string {
  return formatDuration(Math.floor(value), Math.round((value - Math.floor(value)) * 1e9));
}

/** The features of a forward gRPC does not apply (none of which changes where the call goes). */
function leftOut(route: Route, action: ForwardAction): string[] {
  const out: string[] = [];
  if (
    mutates(route.requestHeaders) ||
    action.backends.some((b) => mutates(b.requestHeaders) || mutates(b.responseHeaders)) ||
    mutates(route.responseHeaders)
  )
    out.push("header modifiers");
  if (action.mirrors.length > 0) out.push("request mirrors");
  if (action.hostRewrite !== undefined) out.push("host rewrite");
  if (route.cors !== undefined) out.push("CORS");
  if (action.backendTimeout !== undefined) out.push("backend timeout");
  if (action.retry !== undefined) out.push("retry (HTTP status codes)");
  return out;
}

function forward(action: ForwardAction): RouteAction {
  const weighted = action.backends.filter((b) => b.weight > 0);
  const timeout =
    action.requestTimeout === undefined || action.requestTimeout <= 0
      ? {}
      : { max_stream_duration: { max_stream_duration: seconds(action.requestTimeout) } };
  // gRPC refuses weights summing to 0; every call of such a rule fails, as Envoy's 500s.
  if (weighted.length === 1 || weighted.length === 0)
    return { cluster: weighted[0]?.cluster ?? INVALID_BACKEND_CLUSTER, ...timeout };
  return {
    weighted_clusters: {
      clusters: weighted.map((b) => ({ name: b.cluster ?? INVALID_BACKEND_CLUSTER, weight: b.weight })),
    },
    ...timeout,
  };
}

function refusal(route: Route): string | undefined {
  if (route.action.kind === "redirect") return "redirect";
  if (route.action.kind === "direct") return "direct-response";
  if (route.action.pathRewrite !== undefined) return "path-rewrite";
  return undefined;
}

/** The proxyless routes of a mesh chain's routes, in their order (the Gateway API's precedence). */
export function buildProxylessRoutes(routes: readonly Route[]): ProxylessRoutes {
  const out: EnvoyRoute[] = [];
  const clusters = new Set<string>();
  const empty = new Set<string>();
  const notes: ProxylessRouteNote[] = [];
  for (const route of routes) {
    const { match, action } = route;
    if (match.method !== undefined && match.method !== "POST") {
      notes.push({
        route: route.name,
        kind: "skipped",
        detail: `method ${match.method} (gRPC calls are POSTs)`,
      });
      continue;
    }
    if (match.queryParams.length > 0) {
      notes.push({ route: route.name, kind: "skipped", detail: "query parameters (gRPC calls have none)" });
      continue;
    }
    const refused = refusal(route);
    if (refused !== undefined || action.kind !== "forward") {
      const what = refused ?? action.kind;
      notes.push({
        route: route.name,
        kind: "refused",
        detail: `${what} (not done by gRPC): calls fail UNAVAILABLE`,
      });
      const cluster = `${PROXYLESS_UNSUPPORTED_CLUSTER}/${what}`;
      empty.add(cluster);
      out.push({ name: route.name, match: routeMatch(match), route: { cluster } });
      continue;
    }
    const missing = leftOut(route, action);
    if (missing.length > 0)
      notes.push({ route: route.name, kind: "left-out", detail: `${missing.join(", ")} (not done by gRPC)` });
    const routeAction = forward(action);
    for (const c of [
      routeAction.cluster,
      ...(routeAction.weighted_clusters?.clusters ?? []).map((w) => w.name),
    ])
      if (c !== undefined) (c === INVALID_BACKEND_CLUSTER ? empty : clusters).add(c);
    out.push({ name: route.name, match: routeMatch(match), route: routeAction });
  }
  return { routes: out, clusters: [...clusters].sort(), empty: [...empty].sort(), notes };
}
