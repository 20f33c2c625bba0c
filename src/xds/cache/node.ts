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

export function nodeKey(node: NodeInfo): string {
  const named = node.metadata[NODE_KEY_METADATA];
  return typeof named === "string" && named !== "" ? `node/${named}` : `id/${node.id}`;
}

/** Whether a node key names a Kubernetes node (the client announced `strait.dev/node`). */
export function isKubernetesNodeKey(key: string): boolean {
  return key.startsWith("node/");
}

export const UNKNOWN_NODE: NodeInfo = { id: "", cluster: "", metadata: {}, userAgent: "" };
