/**
 * A part of the configuration that translation left out because it does not
 * encode as Envoy would accept it: one route, one virtual host, one endpoint,
 * one TLS chain, one cluster, one listener or one secret. Only that part is
 * left out; the Envoy resource it belonged to is served with everything else.
 * The status stage shows it on the objects it came from (`sources`).
 */
import type { DataPlaneResource } from "./rejection.ts";
import { formatResourceRef, type ResourceRef } from "./resource-ref.ts";

export type ExcludedPart =
  | "route"
  | "virtualHost"
  | "endpoint"
  | "tlsChain"
  | "cluster"
  | "listener"
  | "secret";

export interface Exclusion {
  readonly part: ExcludedPart;
  /** The part's own name (route `ns/route/rule/match`, endpoint `address:port`, chain `ns/gateway/listener`, …). */
  readonly name: string;
  /** The Envoy resource it was (or was to be) part of. */
  readonly resource: DataPlaneResource;
  readonly resourceName: string;
  /** What is wrong, with the failing field's path. */
  readonly message: string;
  readonly sources: readonly ResourceRef[];
}

/** One line for logs and `strait translate`: what was left out, of what, from which objects, and why. */
export function formatExclusion(e: Exclusion): string {
  const from = e.sources.length === 0 ? "" : ` (from ${e.sources.map(formatResourceRef).join(", ")})`;
  return `${e.part} ${e.name} left out of ${e.resource} ${e.resourceName}${from}: ${e.message}`;
}
