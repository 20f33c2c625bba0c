/**
 * Turns a set of resources as proto3 JSON (the translator's output) into a
 * layer of TypeSnapshots, encoding each resource with the strict codec.
 *
 * Resource by resource: translation checks every part before it assembles a
 * resource (xds/translate/strict-check.ts), so a resource that still fails
 * encoding here is a translator bug. It must not cost anyone else their
 * configuration: that one resource keeps the encoding it had in the previous
 * layer (or stays out if it is new), it is reported, and every other resource
 * is published.
 *
 * Encoding is memoized by JSON object: the translator reuses the objects of
 * unchanged model elements, so a pass that changes one route encodes one
 * RouteConfiguration. A type whose version did not change keeps its previous
 * TypeSnapshot object, which lets every stream skip it with one comparison.
 */
import { messageOf } from "../../errors.ts";
import { encodeResourceOnce } from "../proto/index.ts";
import type { EnvoyResourceJson } from "../translate/resource-set.ts";
import type { Layer } from "./snapshot.ts";
import { type ResourceEntry, TypeSnapshot } from "./type-snapshot.ts";
import { contentVersion } from "./versions.ts";

/** Resources by type URL, then by name, as proto3 JSON. `EnvoyResourceSet` is one. */
export type ResourceJsonSet = Readonly<Record<string, ReadonlyMap<string, EnvoyResourceJson>>>;

export interface InvalidResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly error: string;
}

export interface EncodeResult {
  readonly layer: Layer;
  /** Resources that failed encoding: each kept at its previous version, or left out when new. */
  readonly invalid: readonly InvalidResource[];
}

interface Encoded {
  readonly bytes: Uint8Array;
  readonly version: string;
}

export class LayerEncoder {
  readonly #wildcard: boolean;
  #memo = new WeakMap<object, Encoded>();
  #previous: Layer = new Map();
  /** Per type, the names and encodings the previous layer was made of (to skip re-hashing an unchanged type). */
  #previousParts = new Map<string, { names: string[]; encoded: Encoded[] }>();

  /** `wildcard`: whether this layer's resources are part of wildcard subscriptions. */
  constructor(wildcard: boolean) {
    this.#wildcard = wildcard;
  }

  encode(set: ResourceJsonSet): EncodeResult {
    const invalid: InvalidResource[] = [];
    const layer = new Map<string, TypeSnapshot>();
    const parts = new Map<string, { names: string[]; encoded: Encoded[] }>();
    for (const [typeUrl, resources] of Object.entries(set)) {
      const names: string[] = [];
      const encodings: Encoded[] = [];
      for (const [name, json] of resources) {
        let encoded = this.#memo.get(json);
        if (encoded === undefined) {
          let bytes: Uint8Array | undefined;
          let error: string | undefined;
          try {
            const result = encodeResourceOnce(typeUrl, json);
            bytes = result.bytes;
            error = result.issues.map((i) => `${i.path}: ${i.message}`).join("; ");
          } catch (cause) {
            error = messageOf(cause);
          }
          if (bytes === undefined) {
            invalid.push({ typeUrl, name, error: error ?? "could not be encoded" });
            const before = this.#previousParts.get(typeUrl);
            const at = before?.names.indexOf(name) ?? -1;
            const kept = at < 0 ? undefined : before?.encoded[at];
            if (kept !== undefined) {
              names.push(name);
              encodings.push(kept);
            }
            continue;
          }
          encoded = { bytes, version: contentVersion(bytes) };
          this.#memo.set(json, encoded);
        }
        names.push(name);
        encodings.push(encoded);
      }
      if (names.length === 0) continue;
      parts.set(typeUrl, { names, encoded: encodings });
      const previous = this.#previous.get(typeUrl);
      const before = this.#previousParts.get(typeUrl);
      if (
        previous !== undefined &&
        before !== undefined &&
        before.names.length === names.length &&
        names.every((n, i) => n === before.names[i] && encodings[i] === before.encoded[i])
      ) {
        layer.set(typeUrl, previous); // the same resources as last time: nothing to hash or sort
        continue;
      }
      const entries: ResourceEntry[] = names.map((name, i) => {
        const e = encodings[i] as Encoded;
        return { name, version: e.version, bytes: e.bytes, wildcard: this.#wildcard };
      });
      const snapshot = TypeSnapshot.of(typeUrl, entries);
      layer.set(typeUrl, previous?.version === snapshot.version ? previous : snapshot);
    }
    this.#previous = layer;
    this.#previousParts = parts;
    return { layer, invalid };
  }
}
