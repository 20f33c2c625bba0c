import type { ResourceRef } from "./resource-ref.ts";

/**
 * A ClusterIP Service TCP port of the mesh (GAMMA), routes or not: flows from
 * a node's pods to `address:port` go to that node's Envoy, whose mesh
 * listener at `proxyPort` applies the Service's mesh routes, or proxies the
 * stream to its endpoints when it has none. The gateway stage derives these
 * (gateway/mesh.ts); the agent's datapath steers matching flows
 * (strait/v1 MeshService).
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

/**
 * What every node's mesh listener does with a flow to a Service port, picked
 * by destination `address:port` and, for consumer routes, by the client's
 * address: the most specific source match wins, as Envoy chooses filter
 * chains.
 */
export interface MeshChain {
  /** `namespace/service:port`, and `/consumer/<namespace>` for a consumer namespace's chain. */
  readonly name: string;
  readonly service: string;
  /** The ClusterIP. */
  readonly address: string;
  readonly port: number;
  /** Client addresses (`a.b.c.d/32`) the chain is for; empty: every client. */
  readonly sourcePrefixes: readonly string[];
  /**
   * tcp: no mesh route applies, the stream goes to the Service's endpoints
   * (the cluster of that Service port), as kube-proxy would send it;
   * http: the mesh routes of the chain, in their route table (RDS).
   */
  readonly action:
    | { readonly kind: "tcp"; readonly cluster: string }
    | { readonly kind: "http"; readonly routeTable: string };
  readonly sources: readonly ResourceRef[];
}

export interface MeshModel {
  /** Every ClusterIP Service TCP port, sorted by `address:port`: what the agents redirect. */
  readonly services: readonly MeshService[];
  /** Sorted by name. */
  readonly chains: readonly MeshChain[];
}

export const EMPTY_MESH: MeshModel = { services: [], chains: [] };
