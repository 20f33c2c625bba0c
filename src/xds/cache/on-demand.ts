/**
 * Resources made on demand for named subscriptions. A proxyless gRPC client
 * asks for the Listener named after its target (`svc.ns.svc.cluster.local:
 * 8080`); nothing in the gateway configuration has that name, so the resolver
 * builds it (an API listener, its route, the Service's cluster and
 * endpoints). Interest is counted per name and scope over every stream,
 * resolved again on every configuration change, and dropped when the last
 * subscriber leaves.
 *
 * A scope is the client's namespace (node metadata `NAMESPACE`, see
 * node.ts), or "" when it names none: the same name may resolve differently
 * per namespace (GAMMA consumer routes), so each scope has a layer of its
 * own and a client sees its scope's.
 */
import { messageOf } from "../../errors.ts";
import type { InvalidResource, ResourceJsonSet } from "./layer-encoder.ts";
import { LayerEncoder } from "./layer-encoder.ts";
import type { Layer } from "./snapshot.ts";
import { type ResourceEntry, TypeSnapshot } from "./type-snapshot.ts";

/**
 * A name the resolver understands but cannot resolve now (a Service or port
 * that does not exist): the subscription sees "does not exist", and the
 * reason is kept for the operator (`/readyz?verbose`, a metric).
 */
export interface OnDemandMiss {
  readonly missing: string;
}

/**
 * Builds the resources a subscription to `name` of `typeUrl` needs, for
 * clients of `scope` (their namespace, or ""); a miss with its reason when
 * the name cannot be resolved; undefined when the name means nothing to this
 * resolver. Both of the latter are "does not exist" on the wire, as the
 * protocol says.
 */
export type OnDemandResolver = (
  typeUrl: string,
  name: string,
  scope: string,
) => ResourceJsonSet | OnDemandMiss | undefined;

/** A subscribed name that serves nothing, or its previous resources, and why. */
export interface OnDemandProblem {
  readonly typeUrl: string;
  readonly name: string;
  /** The subscribers' namespace, when they named one. */
  readonly scope?: string;
  /** Streams subscribed to it. */
  readonly subscribers: number;
  readonly reason: string;
}

function isMiss(result: ResourceJsonSet | OnDemandMiss): result is OnDemandMiss {
  return typeof (result as { missing?: unknown }).missing === "string";
}

export interface Interest {
  readonly typeUrl: string;
  readonly name: string;
  readonly scope: string;
  count: number;
  /** The encoded resources, or undefined when the name resolves to nothing. */
  layer: Layer | undefined;
  /** Why the last resolution gave nothing new (a miss, a resolver bug, a resource that does not encode). */
  problem: string | undefined;
}

function interestKey(typeUrl: string, name: string, scope: string): string {
  return `${scope}\n${typeUrl}\n${name}`;
}

const EMPTY_LAYER: Layer = new Map();

export class OnDemandResources {
  readonly #resolver: OnDemandResolver | undefined;
  readonly #onInvalid: (invalid: readonly InvalidResource[]) => void;
  readonly #interest = new Map<string, Interest>();
  /** By scope; a scope without resources has none. */
  #layers = new Map<string, Layer>();

  constructor(
    resolver: OnDemandResolver | undefined,
    onInvalid: (invalid: readonly InvalidResource[]) => void,
  ) {
    this.#resolver = resolver;
    this.#onInvalid = onInvalid;
  }

  /** The resources made for clients of `scope`. */
  layerFor(scope: string): Layer {
    return this.#layers.get(scope) ?? EMPTY_LAYER;
  }

  /** The subscribed names whose last resolution failed, with the reason, sorted by name. */
  problems(): OnDemandProblem[] {
    const out: OnDemandProblem[] = [];
    for (const i of this.#interest.values()) {
      if (i.problem !== undefined)
        out.push({
          typeUrl: i.typeUrl,
          name: i.name,
          ...(i.scope === "" ? {} : { scope: i.scope }),
          subscribers: i.count,
          reason: i.problem,
        });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** Counts one more subscriber; returns the names that are new (to be resolved). */
  retain(typeUrl: string, names: readonly string[], scope = ""): Interest[] {
    const fresh: Interest[] = [];
    if (this.#resolver === undefined) return fresh;
    for (const name of names) {
      const key = interestKey(typeUrl, name, scope);
      const interest = this.#interest.get(key);
      if (interest !== undefined) interest.count++;
      else {
        const created: Interest = { typeUrl, name, scope, count: 1, layer: undefined, problem: undefined };
        this.#interest.set(key, created);
        fresh.push(created);
      }
    }
    return fresh;
  }

  /** Counts one subscriber less; returns whether resources were dropped. */
  release(typeUrl: string, names: readonly string[], scope = ""): boolean {
    let dropped = false;
    for (const name of names) {
      const key = interestKey(typeUrl, name, scope);
      const interest = this.#interest.get(key);
      if (interest === undefined) continue;
      if (--interest.count > 0) continue;
      this.#interest.delete(key);
      if (interest.layer !== undefined) dropped = true;
    }
    if (dropped) this.#rebuild();
    return dropped;
  }

  /** Resolves the given interests (every one when omitted); returns whether the layer changed. */
  resolve(which?: readonly Interest[]): boolean {
    const resolver = this.#resolver;
    if (resolver === undefined) return false;
    for (const interest of which ?? this.#interest.values()) {
      let set: ResourceJsonSet | OnDemandMiss | undefined;
      try {
        set = resolver(interest.typeUrl, interest.name, interest.scope);
      } catch (error) {
        // A resolver bug: reported like an encoding failure, and this name keeps what it had.
        interest.problem = `resolver failed (a bug): ${messageOf(error)}`;
        this.#onInvalid([{ typeUrl: interest.typeUrl, name: interest.name, error: messageOf(error) }]);
        continue;
      }
      if (set === undefined || isMiss(set)) {
        interest.layer = undefined;
        interest.problem = set?.missing;
        continue;
      }
      // A fresh encoder per resolution: these are a handful of small resources, made anew each time.
      const encoded = new LayerEncoder(false).encode(set);
      if (encoded.invalid.length === 0) {
        interest.layer = encoded.layer;
        interest.problem = undefined;
      } else {
        // Keep what this name had: a translator bug must not cut clients off.
        interest.problem = `${encoded.invalid.length} resource(s) failed encoding, served at the previous version or left out (${encoded.invalid
          .slice(0, 3)
          .map((bad) => `${bad.name}: ${bad.error}`)
          .join("; ")})`;
        this.#onInvalid(encoded.invalid);
      }
    }
    return this.#rebuild();
  }

  #rebuild(): boolean {
    // By scope, then type: every resource its interests resolved to.
    const byScope = new Map<string, Map<string, Map<string, ResourceEntry>>>();
    for (const interest of this.#interest.values()) {
      let byType = byScope.get(interest.scope);
      if (byType === undefined) {
        byType = new Map();
        byScope.set(interest.scope, byType);
      }
      for (const [typeUrl, snapshot] of interest.layer ?? []) {
        let entries = byType.get(typeUrl);
        if (entries === undefined) {
          entries = new Map();
          byType.set(typeUrl, entries);
        }
        // Two targets naming one Service (svc.ns and svc.ns.svc.cluster.local) share its cluster: same content.
        for (const [name, entry] of snapshot.entries) if (!entries.has(name)) entries.set(name, entry);
      }
    }
    const layers = new Map<string, Layer>();
    let changed = false;
    for (const [scope, byType] of byScope) {
      const before = this.#layers.get(scope) ?? EMPTY_LAYER;
      const layer = new Map<string, TypeSnapshot>();
      if (byType.size !== before.size) changed = true;
      for (const [typeUrl, entries] of byType) {
        const next = TypeSnapshot.of(typeUrl, entries.values());
        const previous = before.get(typeUrl);
        if (previous?.version === next.version) layer.set(typeUrl, previous);
        else {
          layer.set(typeUrl, next);
          changed = true;
        }
      }
      if (layer.size > 0) layers.set(scope, layer);
    }
    for (const scope of this.#layers.keys()) if (!layers.has(scope)) changed = true;
    this.#layers = layers;
    return changed;
  }
}
