/**
 * One node's Envoy configuration, indexed for lookups by name and by address,
 * built once and reused for every simulated request.
 */
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import type { EnvoyResourceSet } from "../translate/resource-set.ts";

export type Json = Record<string, unknown>;

export interface NodeConfig {
  /** Listeners by `address:port`. */
  readonly listeners: ReadonlyMap<string, Json>;
  readonly routeConfigurations: ReadonlyMap<string, Json>;
  readonly clusters: ReadonlyMap<string, Json>;
  readonly loadAssignments: ReadonlyMap<string, Json>;
  readonly secrets: ReadonlyMap<string, Json>;
}

function field<T>(obj: unknown, ...path: string[]): T | undefined {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Json)[p];
  }
  return cur as T | undefined;
}

export { field };

/** Indexes decoded resources (proto3 JSON with proto field names). */
export function indexNodeConfig(resources: EnvoyResourceSet): NodeConfig {
  const listeners = new Map<string, Json>();
  for (const l of resources[TYPE_URLS.listener].values()) {
    const address = field<string>(l, "address", "socket_address", "address") ?? "0.0.0.0";
    const port = field<number>(l, "address", "socket_address", "port_value") ?? 0;
    listeners.set(`${address}:${port}`, l as Json);
  }
  return {
    listeners,
    routeConfigurations: resources[TYPE_URLS.routeConfiguration] as ReadonlyMap<string, Json>,
    clusters: resources[TYPE_URLS.cluster] as ReadonlyMap<string, Json>,
    loadAssignments: resources[TYPE_URLS.clusterLoadAssignment] as ReadonlyMap<string, Json>,
    secrets: resources[TYPE_URLS.secret] as ReadonlyMap<string, Json>,
  };
}
