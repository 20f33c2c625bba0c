/**
 * The snapshot cache: what every xDS client is served, by node.
 *
 * Layers make a node's snapshot, highest priority first: resources of that
 * node alone (its agent's policy, its Envoy's L7 listeners), resources every
 * Kubernetes node gets but other clients do not (the mesh listener: it binds
 * transparently and serves only what a node agent's TPROXY rules steer to it,
 * so an Envoy without an agent, such as standalone mode's managed one, which
 * may lack the privilege to bind it, is not given it), the gateway
 * configuration shared by every client (the pipeline's output), and resources
 * made on demand for named subscriptions (proxyless gRPC). A client is a
 * Kubernetes node's when it announces one (`strait.dev/node` metadata). Only complete, validated layers
 * are published: a layer with a resource that fails encoding is refused whole
 * and the previous one stays. Nothing is served before the first gateway
 * layer, so a restarting controller never tells clients that their listeners
 * are gone.
 */
import type { InvalidResource, ResourceJsonSet } from "./layer-encoder.ts";
import { LayerEncoder } from "./layer-encoder.ts";
import { clientNamespace, isKubernetesNodeKey, type NodeInfo, nodeKey, UNKNOWN_NODE } from "./node.ts";
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
  readonly #allNodesEncoder = new LayerEncoder(true);
  readonly #onDemand: OnDemandResources;
  readonly #onInvalid: (layer: string, invalid: readonly InvalidResource[]) => void;
  readonly #nodes = new Map<string, NodeLayer>();
  readonly #onDemandTypes: ReadonlySet<string> | undefined;
  readonly #listeners = new Set<() => void>();
  #gateway: Layer | undefined;
  #allNodes: Layer = new Map();
  /** By on-demand scope (the client's namespace, or ""). */
  readonly #shared = new Map<string, Snapshot>();
  /** By node key (`node/*` for Kubernetes nodes without a layer of their own) and scope. */
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
   * Publishes the shared configuration (`set`, for every client, and
   * `forNodes`, for every client that announces a Kubernetes node), and
   * resolves on-demand resources again (the objects they come from may have
   * changed with it).
   */
  publish(set: ResourceJsonSet, forNodes: ResourceJsonSet = {}): PublishResult {
    const encoded = this.#gatewayEncoder.encode(set);
    const nodes = this.#allNodesEncoder.encode(forNodes);
    const invalid = [...encoded.invalid, ...nodes.invalid];
    if (invalid.length > 0) this.#onInvalid("gateway", invalid);
    this.#gateway = encoded.layer;
    this.#allNodes = nodes.layer;
    this.#onDemand.resolve();
    this.#changed();
    return { ok: true, version: this.#sharedSnapshot().version, invalid };
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
    const allNodes = isKubernetesNodeKey(key) && this.#allNodes.size > 0 ? [this.#allNodes] : [];
    if (node === undefined && allNodes.length === 0) return this.#sharedSnapshot(scope);
    const cacheKey = `${node === undefined ? "node/*" : key}\n${scope}`;
    let snapshot = this.#perNode.get(cacheKey);
    if (snapshot === undefined) {
      const own = node === undefined ? [] : [node.layer];
      snapshot = new Snapshot([
        ...own,
        ...allNodes,
        this.#gateway ?? new Map(),
        this.#onDemand.layerFor(scope),
      ]);
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
