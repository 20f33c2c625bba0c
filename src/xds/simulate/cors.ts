/**
 * Envoy's CORS filter (envoy.filters.http.cors) with a per-route CorsPolicy:
 * a preflight (OPTIONS with Origin and Access-Control-Request-Method) from an
 * allowed origin is answered by the filter with 200 and the policy's headers
 * (a `*` for methods or headers echoes the request's); a preflight from
 * another origin goes on to the route (forward_not_matching_preflights). On
 * other requests from an allowed origin, the response gets
 * Access-Control-Allow-Origin (the origin itself), -Allow-Credentials and
 * -Expose-Headers. The filter's encoder also runs on its own preflight reply.
 */
import type {
  envoy_extensions_filters_http_cors_v3_CorsPolicy as CorsPolicy,
  envoy_config_route_v3_Route as Route,
  envoy_config_route_v3_VirtualHost as VirtualHost,
} from "../proto/envoy-types.ts";
import { unpackAny } from "../proto/pack-any.ts";
import { headerValue, stringMatches } from "./matchers.ts";
import type { HeaderList } from "./types.ts";

const CORS_POLICY = "envoy.extensions.filters.http.cors.v3.CorsPolicy";

/** The route's CorsPolicy (typed_per_filter_config), else the virtual host's. */
export function corsPolicyOf(route: Route, vh: VirtualHost): CorsPolicy | undefined {
  const fromRoute = unpackAny(route.typed_per_filter_config?.["envoy.filters.http.cors"], CORS_POLICY);
  return fromRoute ?? unpackAny(vh.typed_per_filter_config?.["envoy.filters.http.cors"], CORS_POLICY);
}

export interface CorsResult {
  /** Headers of the filter's own preflight reply. */
  readonly preflight?: [string, string][];
  /** Headers to add to the upstream's response. */
  readonly actual?: {
    readonly allowOrigin: string;
    readonly allowCredentials: boolean;
    readonly exposeHeaders?: string;
  };
}

export function evaluateCors(
  policy: CorsPolicy | undefined,
  method: string,
  headers: HeaderList,
): CorsResult {
  if (policy === undefined) return {};
  const origin = headerValue(headers, "origin");
  if (origin === undefined || origin === "") return {};
  const matchers = policy.allow_origin_string_match ?? [];
  const allowed = matchers.some((m) => stringMatches(m, "*") || stringMatches(m, origin));
  const credentials = policy.allow_credentials === true;
  const expose =
    typeof policy.expose_headers === "string" && policy.expose_headers !== ""
      ? policy.expose_headers
      : undefined;
  const actual = allowed
    ? {
        allowOrigin: origin,
        allowCredentials: credentials,
        ...(expose === undefined ? {} : { exposeHeaders: expose }),
      }
    : undefined;
  const requestMethod = headerValue(headers, "access-control-request-method");
  const isPreflight = method === "OPTIONS" && requestMethod !== undefined && requestMethod !== "";
  if (!isPreflight) return actual === undefined ? {} : { actual };
  const forwardNotMatching = policy.forward_not_matching_preflights !== false;
  if (!allowed && forwardNotMatching) return {};
  const reply: [string, string][] = [];
  if (allowed) reply.push(["access-control-allow-origin", origin]);
  if (credentials) reply.push(["access-control-allow-credentials", "true"]);
  const methods = typeof policy.allow_methods === "string" ? policy.allow_methods : "";
  if (methods !== "") reply.push(["access-control-allow-methods", methods === "*" ? requestMethod : methods]);
  const allowHeaders = typeof policy.allow_headers === "string" ? policy.allow_headers : "";
  if (allowHeaders !== "")
    reply.push([
      "access-control-allow-headers",
      allowHeaders === "*" ? (headerValue(headers, "access-control-request-headers") ?? "") : allowHeaders,
    ]);
  if (typeof policy.max_age === "string" && policy.max_age !== "")
    reply.push(["access-control-max-age", policy.max_age]);
  if (allowed && expose !== undefined) reply.push(["access-control-expose-headers", expose]);
  return { preflight: reply };
}
