/**
 * Backends of the model: where traffic goes once routing has decided.
 * A ServiceBackend is one port of one Kubernetes Service with its resolved
 * endpoints; it becomes one Envoy cluster (and its load assignment).
 */
import type { ResourceRef } from "./resource-ref.ts";

/** The protocol spoken to the upstream, from the Service port's appProtocol. */
export type UpstreamProtocol = "http1" | "http2" | "websocket" | "tcp";

export interface Endpoint {
  /** IPv4 or IPv6 address. */
  readonly address: string;
  readonly port: number;
  /** `topology.kubernetes.io/zone` of the endpoint, when the EndpointSlice says. */
  readonly zone?: string;
  readonly nodeName?: string;
  /** Pod (or other target) the endpoint belongs to, `namespace/name`. */
  readonly target?: string;
}

export interface ServiceBackend {
  readonly kind: "Service";
  /** Envoy cluster name: `namespace/service:port`. */
  readonly clusterName: string;
  readonly namespace: string;
  readonly service: string;
  /** The Service port (not the target port). */
  readonly port: number;
  readonly protocol: UpstreamProtocol;
  /** Ready endpoints, sorted by address then port, without duplicates. */
  readonly endpoints: readonly Endpoint[];
  readonly sources: readonly ResourceRef[];
}
