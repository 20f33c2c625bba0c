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

/** TLS from the gateway to the backend (BackendTLSPolicy), validated against a CA bundle and names. */
export interface UpstreamTls {
  /** SNI sent, and the name the certificate must carry when `subjectAltNames` is empty. */
  readonly sni: string;
  /** CA bundle name (an SDS validation context), or "system" for the node's trust store. */
  readonly trust: { readonly kind: "bundle"; readonly name: string } | { readonly kind: "system" };
  /** Names the certificate must carry (any of them); the SNI when empty. */
  readonly subjectAltNames: readonly { readonly type: "DNS" | "URI"; readonly value: string }[];
  /** Client certificate (SDS secret name) the gateway presents, if any. */
  readonly clientCertificate?: string;
  readonly sources: readonly ResourceRef[];
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
  /** TLS to the backend, when a BackendTLSPolicy applies. */
  readonly tls?: UpstreamTls;
  readonly sources: readonly ResourceRef[];
}
