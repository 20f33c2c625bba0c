/**
 * The HTTP filter chain of every HTTP connection manager strait emits, in one
 * ordered table with the reason for each position. Route-level behaviour is
 * configured per route (typed_per_filter_config); the chain itself is the
 * same everywhere, so listeners stay identical when routes change.
 */
import type {
  AnyJson,
  envoy_extensions_filters_network_http_connection_manager_v3_HttpFilter as HttpFilterJson,
} from "../proto/envoy-types.ts";
import { packAny } from "../proto/pack-any.ts";

interface HttpFilter {
  readonly name: string;
  /** Why the filter sits where it does. */
  readonly why: string;
  readonly config: AnyJson;
}

export const HTTP_FILTERS: readonly HttpFilter[] = [
  {
    name: "envoy.filters.http.cors",
    why: "first: a CORS preflight is answered before anything else runs, and actual responses get their CORS headers last",
    config: packAny("envoy.extensions.filters.http.cors.v3.Cors", {}),
  },
  {
    name: "envoy.filters.http.router",
    why: "last, as Envoy requires: forwards to the route's cluster",
    config: packAny("envoy.extensions.filters.http.router.v3.Router", {}),
  },
];

export function httpFilters(): HttpFilterJson[] {
  return HTTP_FILTERS.map((f) => ({ name: f.name, typed_config: f.config }));
}
