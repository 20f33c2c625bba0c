/**
 * Inputs and outputs of the simulator: one request against one node's Envoy
 * configuration, and what Envoy would do with it.
 */

import type { envoy_type_matcher_v3_StringMatcher } from "../proto/envoy-types.ts";

/** Header list: lower-cased names, in order; a name may repeat. */
export type HeaderList = readonly (readonly [string, string])[];

export interface SimRequest {
  /** Destination address and port the client connects to. */
  readonly address: string;
  readonly port: number;
  /** The client's own address, as Envoy sees the connection's peer (X-Forwarded-For); unknown when absent. */
  readonly remoteAddress?: string;
  /**
   * "mesh": a pod's flow to a mesh Service (`address:port` its ClusterIP),
   * which the datapath redirects to the node's mesh listener (GAMMA).
   */
  readonly via?: "mesh";
  /** TLS: the SNI the client sends (absent for plain TCP). */
  readonly tls?: {
    readonly sni?: string;
    readonly alpn?: readonly string[];
    readonly clientCertificatePem?: string;
  };
  /**
   * The client speaks HTTP/2: over TLS by ALPN, in clear text with prior
   * knowledge (a gRPC client's h2c). Absent: HTTP/1.1.
   */
  readonly http2?: boolean;
  readonly method: string;
  readonly scheme: "http" | "https";
  /** Host / :authority, possibly with a port. */
  readonly authority: string;
  /** Path with query string. */
  readonly path: string;
  readonly headers: HeaderList;
}

export interface SimOptions {
  /**
   * Random values Envoy would draw, in [0, 1): weighted cluster choice,
   * endpoint choice, runtime fractions (mirrors, route fractions). Given
   * explicitly so a simulation is reproducible.
   */
  readonly random?: { readonly cluster?: number; readonly endpoint?: number; readonly fraction?: number };
  /**
   * Envoy's own address (its local_info address), which it appends to the
   * X-Forwarded-For of the requests it mirrors; not modelled when absent.
   */
  readonly envoyAddress?: string;
}

export interface UpstreamRequest {
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  readonly headers: HeaderList;
}

export interface UpstreamTlsInfo {
  readonly sni?: string;
  /** PEM of the CAs the server certificate must chain to (from the SDS validation context). */
  readonly trustedCaPem?: string;
  readonly trustBundle?: string;
  readonly systemTrust?: boolean;
  readonly subjectAltNames: readonly {
    readonly type: string;
    readonly matcher: envoy_type_matcher_v3_StringMatcher;
  }[];
  /** SDS name of the client certificate presented to the backend. */
  readonly clientCertificate?: string;
}

export interface Endpoint {
  readonly address: string;
  readonly port: number;
  readonly zone?: string;
}

export interface Mirror {
  readonly cluster: string;
  readonly endpoint?: Endpoint;
  readonly request: UpstreamRequest;
}

export interface RetryInfo {
  readonly retryOn: string;
  readonly numRetries: number;
  readonly retriableStatusCodes: readonly number[];
  readonly perTryTimeout?: string;
  readonly backoff?: string;
}

/** What happens to the response on its way back (applied by `finalizeResponse`). */
export interface HeaderParserOps {
  readonly add: readonly { readonly name: string; readonly value: string; readonly action: string }[];
  readonly remove: readonly string[];
}

export interface ResponseTransform {
  /** Header mutations in the order Envoy applies them (each: removals, then additions). */
  readonly headerMutations: readonly HeaderParserOps[];
  /** CORS headers Envoy's filter adds to an actual (non-preflight) response. */
  readonly cors?: {
    readonly allowOrigin: string;
    readonly allowCredentials: boolean;
    readonly exposeHeaders?: string;
  };
}

export type SimOutcome =
  | {
      /** The connection or TLS handshake fails: no HTTP response at all. */
      readonly kind: "connection-failed";
      readonly reason: string;
    }
  | {
      /** Envoy answers itself: redirect, direct response, CORS preflight, 404, 421, 500, 503. */
      readonly kind: "local-response";
      readonly status: number;
      readonly headers: HeaderList;
      readonly body?: string;
      readonly reason: string;
    }
  | {
      /** The connection is proxied as a byte stream (TLSRoute chains: tcp_proxy). */
      readonly kind: "tcp-forward";
      readonly cluster: string;
      readonly weightedClusters?: readonly { readonly cluster: string; readonly weight: number }[];
      readonly endpoint: Endpoint;
      /** Envoy terminated the client's TLS and sends plain text; otherwise TLS passes through. */
      readonly tlsTerminated: boolean;
      /** Passthrough: the SNI the backend receives in the client's handshake. */
      readonly passthroughSni?: string;
    }
  | {
      readonly kind: "forward";
      readonly cluster: string;
      /** The weighted clusters of the route and their weights, when there were several. */
      readonly weightedClusters?: readonly { readonly cluster: string; readonly weight: number }[];
      readonly endpoint: Endpoint;
      /** The protocol the connection upgrades to (e.g. websocket), when the request asked and Envoy allows it. */
      readonly upgrade?: string;
      /** TLS to the upstream (cluster transport socket): SNI, trust, names; see verifyServerCertificate. */
      readonly upstreamTls?: UpstreamTlsInfo;
      readonly request: UpstreamRequest;
      readonly mirrors: readonly Mirror[];
      /** Route timeout (`0s` disabled); Envoy's default is 15s. */
      readonly timeout: string;
      readonly retry?: RetryInfo;
      readonly response: ResponseTransform;
    };

export interface SimResult {
  readonly listener?: string;
  readonly filterChain?: string;
  readonly routeConfiguration?: string;
  readonly virtualHost?: string;
  readonly route?: string;
  /** Server certificates (SDS secret names) presented on a TLS chain. */
  readonly serverCertificates?: readonly string[];
  /** Whether the TLS chain asked the client for a certificate. */
  readonly clientCertificateRequested?: boolean;
  readonly outcome: SimOutcome;
  /** Each decision, in order: how the request got where it went. */
  readonly trace: readonly string[];
}
