/**
 * A Service port that HTTPRoutes attach to (GAMMA, a Service parentRef):
 * flows from a node's pods to `address:port` go to that node's Envoy, whose
 * mesh listener at `proxyPort` applies the routes. The gateway stage derives
 * these; the agent's datapath steers matching flows (strait/v1 MeshService).
 */
export interface MeshService {
  /** `namespace/name` of the Service. */
  readonly service: string;
  /** The Service's IPv4 ClusterIP. */
  readonly address: string;
  readonly port: number;
  readonly protocol: "TCP";
  /** The node Envoy's mesh listener port. */
  readonly proxyPort: number;
}

/**
 * The port of every node Envoy's mesh listener (`127.0.0.1`, transparent):
 * next to the L7 policy's proxy ports 15001 (ingress) and 15002 (egress).
 */
export const MESH_PROXY_PORT = 15003;

/** The Envoy listener that serves GAMMA routes on every node. */
export const MESH_LISTENER_NAME = "strait/mesh";

/** The resource name of a mesh service: `address:port`. */
export function meshServiceName(m: Pick<MeshService, "address" | "port">): string {
  return `${m.address}:${m.port}`;
}
