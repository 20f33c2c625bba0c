/**
 * The HTTP filter chain of every HTTP connection manager strait emits, in one
 * ordered table with the reason for each position. Route-level behaviour is
 * configured per route (typed_per_filter_config); the chain itself is the
 * same everywhere, so listeners stay identical when routes change.
 */
import { EXTENSION_TYPES } from "./type-urls.ts";

interface HttpFilter {
  readonly name: string;
  /** Why the filter sits where it does. */
  readonly why: string;
  readonly config: Readonly<Record<string, unknown>>;
}

export const HTTP_FILTERS: readonly HttpFilter[] = [
  {
    name: "envoy.filters.http.cors",
    why: "first: a CORS preflight is answered before anything else runs, and actual responses get their CORS headers last",
    config: { "@type": EXTENSION_TYPES.cors },
  },
  {
    name: "envoy.filters.http.router",
    why: "last, as Envoy requires: forwards to the route's cluster",
    config: { "@type": EXTENSION_TYPES.router },
  },
];

export function httpFilters(): { name: string; typed_config: Readonly<Record<string, unknown>> }[] {
  return HTTP_FILTERS.map((f) => ({ name: f.name, typed_config: f.config }));
}
