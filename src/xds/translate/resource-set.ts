/**
 * The output of translation: Envoy resources by type URL, each keyed by its
 * name, as proto3 JSON. The xDS cache encodes and versions these; `strait
 * translate` prints them.
 */
import { type EnvoyTypeUrl, TYPE_URLS } from "../proto/envoy-protos.ts";

export type EnvoyResourceJson = Readonly<Record<string, unknown>>;

export type EnvoyResourceSet = Readonly<Record<EnvoyTypeUrl, ReadonlyMap<string, EnvoyResourceJson>>>;

/** Type URLs in "make before break" order: what a resource refers to comes before it. */
export const TYPE_ORDER: readonly EnvoyTypeUrl[] = [
  TYPE_URLS.secret,
  TYPE_URLS.cluster,
  TYPE_URLS.clusterLoadAssignment,
  TYPE_URLS.listener,
  TYPE_URLS.routeConfiguration,
];

export function emptyResourceSet(): EnvoyResourceSet {
  return Object.fromEntries(TYPE_ORDER.map((t) => [t, new Map()])) as unknown as EnvoyResourceSet;
}
