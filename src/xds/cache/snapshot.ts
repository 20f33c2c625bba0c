/**
 * What one node is served: a TypeSnapshot per type URL, merged from layers in
 * priority order (the node's own resources, then the gateway configuration
 * every node shares, then resources made on demand for named subscriptions).
 */
import { decodeResource } from "../proto/index.ts";
import { emptyTypeSnapshot, mergeTypeSnapshots, type TypeSnapshot } from "./type-snapshot.ts";
import { combinedVersion } from "./versions.ts";

export type Layer = ReadonlyMap<string, TypeSnapshot>;

/** A resource as served, decoded back to proto3 JSON (what `strait proxy-config` sets beside Envoy's dump). */
export interface ServedResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly version: string;
  readonly resource: unknown;
}

export class Snapshot {
  /** Hash of every type's version. */
  readonly version: string;
  readonly #types: Layer;

  /** `layers` from highest priority to lowest; a name in a higher layer hides it in the lower ones. */
  constructor(layers: readonly Layer[]) {
    const typeUrls = [...new Set(layers.flatMap((l) => [...l.keys()]))].sort();
    const types = new Map<string, TypeSnapshot>();
    for (const typeUrl of typeUrls) {
      let merged: TypeSnapshot | undefined;
      for (const layer of layers) {
        const part = layer.get(typeUrl);
        if (part === undefined) continue;
        merged = merged === undefined ? part : mergeTypeSnapshots(merged, part);
      }
      if (merged !== undefined) types.set(typeUrl, merged);
    }
    this.#types = types;
    this.version = combinedVersion(typeUrls.flatMap((t) => [t, types.get(t)?.version ?? ""]));
  }

  /** The resources of a type; an empty snapshot for a type this node has none of. */
  type(typeUrl: string): TypeSnapshot {
    return this.#types.get(typeUrl) ?? emptyTypeSnapshot(typeUrl);
  }

  typeUrls(): readonly string[] {
    return [...this.#types.keys()];
  }

  /** Every resource a wildcard subscriber gets, decoded. */
  wildcardResources(): ServedResource[] {
    return this.typeUrls().flatMap((typeUrl) =>
      [...this.type(typeUrl).entries.values()]
        .filter((e) => e.wildcard)
        .map((e) => ({
          typeUrl,
          name: e.name,
          version: e.version,
          resource: decodeResource(typeUrl, e.bytes),
        })),
    );
  }
}
