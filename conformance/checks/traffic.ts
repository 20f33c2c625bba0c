/**
 * The traffic side of the conformance harness: a request sent to a Gateway's
 * address goes through the Envoy configuration strait generated and reaches
 * an echo backend, which reports what it received, as the upstream suite's
 * echo server does. Two engines answer it: the simulator (the configuration
 * evaluated in process) and a real Envoy over real sockets, cross-checked
 * against the simulator (conformance/envoy/).
 */
import type { Issued } from "../certificates.ts";

export interface TrafficRequest {
  /** The Gateway the suite's client sends to; absent for a request from a mesh client Pod. */
  readonly gateway?: { readonly namespace: string; readonly name: string };
  /**
   * The namespace of the mesh client Pod the request is sent from (`via: mesh
   * client pod`): it goes to the Service `host` names, resolved as cluster DNS
   * answers that Pod, through the datapath's redirect to the node's Envoy.
   */
  readonly meshClient?: string;
  /** Listener port; the Gateway's first listener port when not given. */
  readonly port?: number;
  readonly scheme: "http" | "https";
  /** Host header; the gateway address (with port) when not given, as Go's HTTP client does. */
  readonly host?: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  /** TLS server name (https only). */
  readonly sni?: string;
  /** Client certificate presented when the server asks for one (https only). */
  readonly clientCert?: Issued;
  /**
   * What the client trusts for the server (https only), as the upstream roundtripper's RootCAs:
   * the engine must fail the handshake (a `failed` result) unless the server's certificate
   * chains to one of these, is valid now and is valid for `sni` (Go's ServerName check).
   */
  readonly trustedServerCertPem?: string;
  /** Random value in [0, 1) driving weighted choices, so repeated sends explore the weights. */
  readonly random: number;
  /**
   * How the client speaks to the gateway: HTTP/1.1 (the default, as Go's client
   * with a custom transport), HTTP/2 negotiated by ALPN over TLS, or cleartext
   * HTTP/2 with prior knowledge.
   */
  readonly protocol?: "HTTP/1.1" | "HTTP/2.0" | "H2C_PRIOR_KNOWLEDGE";
  /** WebSocket upgrades: frames sent once upgraded; the echo backend must return each unchanged. */
  readonly websocketFrames?: readonly { readonly binary: boolean; readonly data: string }[];
}

export interface BackendRequest {
  readonly method: string;
  readonly path: string;
  readonly host: string;
  /** Lower-cased names; repeated headers keep every value. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  /** SNI the gateway sent on a TLS connection to the backend, if any. */
  readonly sni?: string;
  /** PEM of the client certificate the gateway presented on that connection, if any. */
  readonly clientCertPem?: string;
}

export interface BackendHit {
  readonly pod: string;
  readonly namespace: string;
  readonly request: BackendRequest;
}

export type TrafficResult =
  | {
      readonly kind: "response";
      readonly status: number;
      /** Lower-cased names. */
      readonly headers: Readonly<Record<string, readonly string[]>>;
      readonly backend?: BackendHit;
      readonly mirrors: readonly BackendHit[];
      /** The protocol the connection was upgraded to (101 Switching Protocols), if any. */
      readonly upgraded?: string;
      /** For https: whether the server asked for a client certificate. */
      readonly clientCertRequested?: boolean;
      /** WebSocket: whether every frame of `websocketFrames` came back unchanged. */
      readonly framesEchoed?: boolean;
    }
  | {
      /** No HTTP response: connection refused, TLS handshake failure, reset. */
      readonly kind: "failed";
      readonly reason: string;
      /** For https: whether the server asked for a client certificate before the failure. */
      readonly clientCertRequested?: boolean;
    };

/** A TCP connection to a Gateway, TLS with an SNI when `sni` or `tls` is given (TLSRoute checks). */
export interface ConnectionRequest {
  readonly gateway: { readonly namespace: string; readonly name: string };
  /** Listener port; the Gateway's first listener port when not given. */
  readonly port?: number;
  readonly tls: boolean;
  readonly sni?: string;
  readonly random: number;
}

export type ConnectionResult =
  | {
      readonly kind: "connected";
      /** The echo backend that answered the stream (absent when an HTTP listener took the connection). */
      readonly backend?: { readonly pod: string; readonly namespace: string };
      /** Whether the backend itself terminated TLS (Passthrough). */
      readonly backendIsTls: boolean;
      /** The SNI the backend saw in the handshake it terminated ("" for none). */
      readonly backendSni: string;
    }
  | {
      /** Refused, closed or reset: no stream reaches a backend. */
      readonly kind: "failed";
      readonly reason: string;
    };

/**
 * The call the suite's mesh client makes for a `grpc://host:port` request
 * (the Istio echo app's client: its echo service's Echo).
 */
export const MESH_GRPC_METHOD = "/proto.EchoTestService/Echo";

/**
 * A unary gRPC call through a Gateway (plaintext HTTP/2 to an HTTP listener),
 * or from a mesh client Pod to a Service (`meshClient`, `host`), through the
 * datapath's redirect to the node's Envoy.
 */
export interface GrpcCall {
  /** The Gateway the suite's client calls; absent for a mesh client Pod's call. */
  readonly gateway?: { readonly namespace: string; readonly name: string };
  /** The namespace of the mesh client Pod the call is made from (as TrafficRequest's). */
  readonly meshClient?: string;
  /** A mesh call's target, `svc[.ns[.svc.cluster.local]][:port]`, also its authority. */
  readonly host?: string;
  readonly port?: number;
  /** `:authority`; the gateway address when not given. */
  readonly authority?: string;
  /** Full method: `/package.Service/Method`. */
  readonly method: string;
  /** Metadata, sent as HTTP/2 headers. */
  readonly metadata: Readonly<Record<string, string>>;
  readonly random: number;
}

export interface GrpcResult {
  /** gRPC status code (0 OK, 12 UNIMPLEMENTED, 14 UNAVAILABLE...). */
  readonly code: number;
  readonly message: string;
  /** The echo backend that answered, when the call reached one. */
  readonly backend?: BackendHit;
}

export interface TrafficEngine {
  /** A unary call to the gRPC echo service behind the Gateway. */
  grpc(call: GrpcCall): Promise<GrpcResult>;
  send(request: TrafficRequest): Promise<TrafficResult>;
  /** Opens a connection and exchanges one message with the echo backend behind it. */
  connect(request: ConnectionRequest): Promise<ConnectionResult>;
  /** Gateway addresses as status reports them, for the Host header default. */
  gatewayAddress(namespace: string, name: string, port?: number): string | undefined;
}
