/**
 * The gateway part of the model: what the node's Envoy must do for the
 * Gateways strait owns, independent of both the Gateway API objects it came
 * from and the Envoy resources it becomes.
 *
 * One `GatewayPort` per Gateway address and port (an Envoy listener). Plain
 * HTTP ports route by Host through one route table; HTTPS and TLS ports first
 * pick a chain by SNI: an HTTPS listener's chain terminates TLS and routes
 * through its own route table, a TLS listener's chains (one per TLSRoute)
 * proxy the TCP stream to the route's backends, passing TLS through or
 * terminating it.
 * Route tables hold virtual hosts by domain, and virtual hosts hold routes in
 * the Gateway API's precedence order.
 */
import type { ServiceBackend } from "./backend.ts";
import type { MeshModel } from "./mesh-service.ts";
import type { ResourceRef } from "./resource-ref.ts";

export interface GatewayModel {
  readonly ports: readonly GatewayPort[];
  readonly routeTables: readonly RouteTable[];
  readonly certificates: readonly Certificate[];
  readonly caBundles: readonly CaBundle[];
  /** Every Service port some route sends to (or mirrors to), and every mesh Service port. */
  readonly backends: readonly ServiceBackend[];
  /** GAMMA: the Service ports every node's mesh listener serves. */
  readonly mesh: MeshModel;
}

export interface GatewayPort {
  /** Envoy listener name: `namespace/gateway/port`. */
  readonly name: string;
  readonly address: string;
  readonly port: number;
  /** HTTPS: some listener of the port is HTTPS (TLS listeners may share it); TLS: only TLS listeners. */
  readonly protocol: "HTTP" | "HTTPS" | "TLS";
  /** HTTP: the route table for every Host. */
  readonly routeTable?: string;
  /** HTTPS: one chain per HTTPS listener, chosen by SNI. */
  readonly tlsChains: readonly TlsChain[];
  /** TLS listeners: one chain per attached TLSRoute, chosen by SNI. */
  readonly tcpChains: readonly TcpChain[];
  readonly sources: readonly ResourceRef[];
}

/**
 * A TLSRoute on a TLS listener: connections whose SNI is one of the route's
 * names are proxied as a byte stream to its backends. Passthrough leaves TLS
 * to the backend; Terminate ends it at the Gateway with the listener's
 * certificates and sends plain text.
 */
export interface TcpChain {
  /** `namespace/gateway/listener/routeNamespace/route`. */
  readonly name: string;
  /** SNI names the chain serves (exact or `*.` wildcards); empty for any. */
  readonly serverNames: readonly string[];
  readonly mode: "Passthrough" | "Terminate";
  /** Terminate: certificate names (SDS secrets). */
  readonly certificates: readonly string[];
  /** Weighted backends; one without a cluster takes its share of connections and closes them. */
  readonly backends: readonly WeightedBackend[];
  readonly sources: readonly ResourceRef[];
}

export interface TlsChain {
  /** `namespace/gateway/listener`. */
  readonly name: string;
  /** SNI names the chain serves; empty for any. */
  readonly serverNames: readonly string[];
  /** Certificate names (SDS secrets). */
  readonly certificates: readonly string[];
  readonly routeTable: string;
  readonly clientValidation?: ClientValidation;
  readonly sources: readonly ResourceRef[];
}

export interface ClientValidation {
  /** CA bundle name (SDS validation context). */
  readonly caBundle: string;
  /** AllowInsecureFallback: ask for a certificate, accept connections without one. */
  readonly optional: boolean;
}

export interface Certificate {
  /** `namespace/secret`. */
  readonly name: string;
  readonly certificateChain: string;
  readonly privateKey: string;
  readonly sources: readonly ResourceRef[];
}

export interface CaBundle {
  /** `namespace/configmap` (or `namespace/secret`). */
  readonly name: string;
  readonly certificates: string;
  readonly sources: readonly ResourceRef[];
}

export interface RouteTable {
  /** `namespace/gateway/port` (HTTP) or `namespace/gateway/listener` (HTTPS). */
  readonly name: string;
  readonly virtualHosts: readonly VirtualHost[];
  /**
   * Hosts served by other chains of the same HTTPS port: a request whose Host
   * belongs there but arrived on this chain's SNI is misdirected (421).
   */
  readonly misdirectedDomains: readonly string[];
}

export interface VirtualHost {
  /** `routeTable/domain`. */
  readonly name: string;
  readonly domains: readonly string[];
  readonly routes: readonly Route[];
}

export type PathMatch =
  | { readonly type: "Exact"; readonly value: string }
  | { readonly type: "PathPrefix"; readonly value: string }
  | { readonly type: "RegularExpression"; readonly value: string };

export type StringMatch =
  | { readonly type: "Exact"; readonly value: string }
  | { readonly type: "RegularExpression"; readonly value: string };

export interface RouteMatch {
  readonly path: PathMatch;
  /** Header names lower-cased. */
  readonly headers: readonly ({ readonly name: string } & StringMatch)[];
  readonly queryParams: readonly ({ readonly name: string } & StringMatch)[];
  readonly method?: string;
}

export interface HeaderMutation {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

export interface WeightedBackend {
  /** Cluster name, or undefined for an invalid backend: its share of requests gets HTTP 500. */
  readonly cluster?: string;
  readonly weight: number;
  readonly requestHeaders?: HeaderMutation;
  readonly responseHeaders?: HeaderMutation;
}

export interface Mirror {
  readonly cluster: string;
  /** Share of requests mirrored, 0..1. */
  readonly fraction: number;
}

export interface Cors {
  readonly allowOrigins: readonly string[];
  readonly allowMethods: readonly string[];
  readonly allowHeaders: readonly string[];
  readonly exposeHeaders: readonly string[];
  readonly allowCredentials: boolean;
  readonly maxAge?: number;
}

export interface Retry {
  readonly attempts: number;
  readonly codes: readonly number[];
  /** Seconds. */
  readonly backoff?: number;
}

export interface ForwardAction {
  readonly kind: "forward";
  readonly backends: readonly WeightedBackend[];
  readonly hostRewrite?: string;
  readonly pathRewrite?:
    | { readonly type: "ReplaceFullPath"; readonly value: string }
    | { readonly type: "ReplacePrefixMatch"; readonly prefix: string; readonly value: string };
  readonly mirrors: readonly Mirror[];
  /** Seconds; the whole request. */
  readonly requestTimeout?: number;
  /** Seconds; each try to a backend. */
  readonly backendTimeout?: number;
  readonly retry?: Retry;
  /** WebSocket upgrades allowed (a backend speaks kubernetes.io/ws). */
  readonly websocket: boolean;
}

export interface RedirectAction {
  readonly kind: "redirect";
  readonly scheme?: string;
  readonly hostname?: string;
  /** Explicit port; undefined means "as the request", 0 means "drop the port". */
  readonly port?: number;
  readonly path?:
    | { readonly type: "ReplaceFullPath"; readonly value: string }
    | { readonly type: "ReplacePrefixMatch"; readonly prefix: string; readonly value: string };
  readonly statusCode: 301 | 302 | 303 | 307 | 308;
}

export interface DirectResponseAction {
  readonly kind: "direct";
  readonly status: number;
  readonly body?: string;
}

export type RouteAction = ForwardAction | RedirectAction | DirectResponseAction;

export interface Route {
  /** `namespace/route/rule/match` (the rule's name when it has one). */
  readonly name: string;
  readonly match: RouteMatch;
  readonly action: RouteAction;
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly cors?: Cors;
  readonly sources: readonly ResourceRef[];
}
