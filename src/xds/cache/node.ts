/**
 * Who is asking: the `node` of the first xDS request on a stream. Nodes are
 * told apart by a key: the `strait.dev/node` metadata field when present
 * (the agent and the per-node Envoy set it to the Kubernetes node name, so
 * both get that node's resources), otherwise `node.id`. A node strait has no
 * per-node resources for gets the shared (gateway) snapshot.
 */

export interface NodeInfo {
  readonly id: string;
  readonly cluster: string;
  /** `node.metadata` as plain JSON. */
  readonly metadata: Readonly<Record<string, unknown>>;
  /** `user_agent_name` and version, e.g. `envoy 1.36.0` or `gRPC Node 1.14.1`. */
  readonly userAgent: string;
}

export const NODE_KEY_METADATA = "strait.dev/node";

/** The Kubernetes node a client announces (`strait.dev/node`), or undefined. */
export function announcedNode(node: NodeInfo): string | undefined {
  const named = node.metadata[NODE_KEY_METADATA];
  return typeof named === "string" && named !== "" ? named : undefined;
}

export function nodeKey(node: NodeInfo): string {
  const named = announcedNode(node);
  return named !== undefined ? `node/${named}` : `id/${node.id}`;
}

/** Whether a node key names a Kubernetes node (the client announced `strait.dev/node`). */
export function isKubernetesNodeKey(key: string): boolean {
  return key.startsWith("node/");
}

/**
 * The node metadata field a proxyless gRPC client names its namespace in
 * (`"node": {"metadata": {"NAMESPACE": "shop"}}`, the key Istio's node
 * metadata uses): its GAMMA consumer routes are those of that namespace.
 */
export const NAMESPACE_METADATA = "NAMESPACE";

const NAMESPACE_NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** The client's namespace from its node metadata, or "" (none, or not a namespace name). */
export function clientNamespace(node: NodeInfo): string {
  const named = node.metadata[NAMESPACE_METADATA];
  return typeof named === "string" && NAMESPACE_NAME.test(named) ? named : "";
}

export const UNKNOWN_NODE: NodeInfo = { id: "", cluster: "", metadata: {}, userAgent: "" };
