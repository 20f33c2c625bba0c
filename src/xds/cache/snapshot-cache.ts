/**
 * The snapshot cache: what every xDS client is served, by node.
 *
 * Three layers make a node's snapshot, highest priority first: resources of
 * that node alone (the agent's own types, later), the gateway configuration
 * shared by every node (the pipeline's output), and resources made on demand
 * for named subscriptions (proxyless gRPC). Only complete, validated layers
 * are published: a layer with a resource that fails encoding is refused whole
 * and the previous one stays. Nothing is served before the first gateway
 * layer, so a restarting controller never tells clients that their listeners
 * are gone.
 */
import type { InvalidResource, ResourceJsonSet } from "./layer-encoder.ts";
import { LayerEncoder } from "./layer-encoder.ts";
import { clientNamespace, type NodeInfo, nodeKey, UNKNOWN_NODE } from "./node.ts";
import { type OnDemandProblem, type OnDemandResolver, OnDemandResources } from "./on-demand.ts";
import { type Layer, Snapshot } from "./snapshot.ts";

export interface SnapshotCacheOptions {
  readonly resolver?: OnDemandResolver;
  /**
   * The types whose named subscriptions the resolver may answer (all when
   * omitted). Proxyless gRPC needs Listeners only; skipping the others spares
   * counting the thousands of endpoint names every Envoy subscribes to.
   */
  readonly onDemandTypes?: readonly string[];
  /** Resources failed encoding (a translator bug), each kept at its previous version: log and count. */
  readonly onInvalid?: (layer: string, invalid: readonly InvalidResource[]) => void;
}

/** Always published; `invalid` are the resources kept at their previous version (or left out when new). */
export interface PublishResult {
  readonly ok: true;
  readonly version: string;
  readonly invalid: readonly InvalidResource[];
}

interface NodeLayer {
  readonly encoder: LayerEncoder;
  layer: Layer;
}

export class SnapshotCache {
  readonly #gatewayEncoder = new LayerEncoder(true);
  readonly #onDemand: OnDemandResources;
  readonly #onInvalid: (layer: string, invalid: readonly InvalidResource[]) => void;
  readonly #nodes = new Map<string, NodeLayer>();
  readonly #onDemandTypes: ReadonlySet<string> | undefined;
  readonly #listeners = new Set<() => void>();
  #gateway: Layer | undefined;
  /** By on-demand scope (the client's namespace, or ""). */
  readonly #shared = new Map<string, Snapshot>();
  /** By node key and scope. */
  readonly #perNode = new Map<string, Snapshot>();

  constructor(options: SnapshotCacheOptions = {}) {
    this.#onInvalid = options.onInvalid ?? (() => {});
    this.#onDemand = new OnDemandResources(options.resolver, (invalid) =>
      this.#onInvalid("on-demand", invalid),
    );
    this.#onDemandTypes = options.onDemandTypes === undefined ? undefined : new Set(options.onDemandTypes);
  }

  /** True once a gateway layer was published: clients are answered from then on. */
  get ready(): boolean {
    return this.#gateway !== undefined;
  }

  /**
   * Publishes the shared configuration, and resolves on-demand resources again
   * (the objects they come from may have changed with it).
   */
  publish(set: ResourceJsonSet): PublishResult {
    const encoded = this.#gatewayEncoder.encode(set);
    if (encoded.invalid.length > 0) this.#onInvalid("gateway", encoded.invalid);
    this.#gateway = encoded.layer;
    this.#onDemand.resolve();
    this.#changed();
    return { ok: true, version: this.#sharedSnapshot().version, invalid: encoded.invalid };
  }

  /** Sets (or with undefined, removes) the resources of one node, by its node key. */
  setNodeResources(key: string, set: ResourceJsonSet | undefined): PublishResult {
    if (set === undefined) {
      if (this.#nodes.delete(key)) this.#changed();
      return { ok: true, version: this.#sharedSnapshot().version, invalid: [] };
    }
    let node = this.#nodes.get(key);
    const encoder = node?.encoder ?? new LayerEncoder(true);
    const encoded = encoder.encode(set);
    if (encoded.invalid.length > 0) this.#onInvalid(`node ${key}`, encoded.invalid);
    if (node === undefined) {
      node = { encoder, layer: encoded.layer };
      this.#nodes.set(key, node);
    } else node.layer = encoded.layer;
    this.#changed();
    return { ok: true, version: this.#snapshotForKey(key).version, invalid: encoded.invalid };
  }

  /** A stream of `node` subscribed to these names: resources may have to be made for them. */
  retain(typeUrl: string, names: readonly string[], node: NodeInfo = UNKNOWN_NODE): void {
    if (this.#onDemandTypes?.has(typeUrl) === false) return;
    const fresh = this.#onDemand.retain(typeUrl, names, clientNamespace(node));
    // Before the first gateway layer the objects are not all there yet: resolved at the first publish.
    if (fresh.length > 0 && this.ready && this.#onDemand.resolve(fresh)) this.#changed();
  }

  /** A stream unsubscribed from these names (or ended). */
  release(typeUrl: string, names: readonly string[], node: NodeInfo = UNKNOWN_NODE): void {
    if (this.#onDemandTypes?.has(typeUrl) === false) return;
    if (this.#onDemand.release(typeUrl, names, clientNamespace(node))) this.#changed();
  }

  /** Subscribed on-demand names that serve nothing new (not resolvable, or failing), with the reason. */
  onDemandProblems(): OnDemandProblem[] {
    return this.#onDemand.problems();
  }

  /** The node's snapshot, or undefined before the first publish. */
  snapshotFor(node: NodeInfo): Snapshot | undefined {
    if (!this.ready) return undefined;
    return this.#snapshotForKey(nodeKey(node), clientNamespace(node));
  }

  /** Called (synchronously) after every change that may change some node's snapshot. */
  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #snapshotForKey(key: string, scope = ""): Snapshot {
    const node = this.#nodes.get(key);
    if (node === undefined) return this.#sharedSnapshot(scope);
    const cacheKey = `${key}\n${scope}`;
    let snapshot = this.#perNode.get(cacheKey);
    if (snapshot === undefined) {
      snapshot = new Snapshot([node.layer, this.#gateway ?? new Map(), this.#onDemand.layerFor(scope)]);
      this.#perNode.set(cacheKey, snapshot);
    }
    return snapshot;
  }

  #sharedSnapshot(scope = ""): Snapshot {
    let snapshot = this.#shared.get(scope);
    if (snapshot === undefined) {
      snapshot = new Snapshot([this.#gateway ?? new Map(), this.#onDemand.layerFor(scope)]);
      this.#shared.set(scope, snapshot);
    }
    return snapshot;
  }

  #changed(): void {
    this.#shared.clear();
    this.#perNode.clear();
    for (const listener of [...this.#listeners]) listener();
  }
}
