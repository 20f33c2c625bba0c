/**
 * A filter chain whose terminal filter is Envoy's TCP proxy (TLSRoute
 * chains): the connection, not an HTTP request, is what gets routed. Without
 * a TLS transport socket the client's TLS passes through to the backend;
 * with one Envoy completes the handshake and sends the plain stream on. The
 * cluster is the proxy's `cluster` or one of its `weighted_clusters` drawn by
 * the random value; a cluster that is not on the node, or one without a
 * healthy endpoint, has Envoy close the connection.
 */
import type {
  envoy_config_listener_v3_FilterChain as FilterChain,
  envoy_config_route_v3_RouteAction as RouteAction,
  envoy_extensions_filters_network_tcp_proxy_v3_TcpProxy as TcpProxy,
} from "../proto/envoy-types.ts";
import { unpackAny } from "../proto/pack-any.ts";
import type { Handshake } from "./listener-match.ts";
import type { NodeConfig } from "./node-config.ts";
import type { SimOutcome } from "./types.ts";
import { chooseCluster, clusterEndpoints, pickEndpoint } from "./upstream.ts";

/** The chain's TCP proxy configuration, when its filters end in one. */
export function tcpProxyOf(chain: FilterChain): TcpProxy | undefined {
  const filters = chain.filters ?? [];
  return unpackAny(
    filters[filters.length - 1]?.typed_config,
    "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
  );
}

export function proxyConnection(
  config: NodeConfig,
  chain: FilterChain,
  proxy: TcpProxy,
  tls: Handshake | undefined,
  sni: string | undefined,
  random: { cluster: number; endpoint: number },
  trace: string[],
): SimOutcome {
  const terminates = chain.transport_socket !== undefined;
  if (terminates && tls !== undefined && !tls.ok) return { kind: "connection-failed", reason: tls.reason };
  // The TCP proxy names its clusters as a route action does (`cluster`, `weighted_clusters`).
  const chosen = chooseCluster(
    {
      ...(proxy.cluster === undefined ? {} : { cluster: proxy.cluster }),
      ...(proxy.weighted_clusters === undefined
        ? {}
        : {
            weighted_clusters: {
              clusters: (proxy.weighted_clusters.clusters ?? []).map((c) => ({
                name: c.name ?? "",
                weight: c.weight ?? 0,
              })),
            },
          }),
    } as RouteAction,
    random.cluster,
  );
  if (chosen === undefined)
    return { kind: "connection-failed", reason: "the TCP proxy has no cluster: Envoy closes the connection" };
  const cluster = config.clusters.get(chosen.cluster);
  if (cluster === undefined) {
    trace.push(`cluster ${chosen.cluster} not found: connection closed`);
    return {
      kind: "connection-failed",
      reason: `cluster ${chosen.cluster} is not on the node: Envoy closes the connection`,
    };
  }
  const endpoint = pickEndpoint(clusterEndpoints(config, cluster), random.endpoint);
  if (endpoint === undefined) {
    trace.push(`cluster ${chosen.cluster} has no healthy endpoint: connection closed`);
    return {
      kind: "connection-failed",
      reason: `no healthy endpoint in cluster ${chosen.cluster}: Envoy closes the connection`,
    };
  }
  trace.push(
    `TCP proxy (${terminates ? "TLS terminated" : sni === undefined ? "the stream as it is" : "TLS passed through"}) to cluster ${chosen.cluster}, endpoint ${endpoint.address}:${endpoint.port}`,
  );
  return {
    kind: "tcp-forward",
    cluster: chosen.cluster,
    ...(chosen.all === undefined ? {} : { weightedClusters: chosen.all }),
    endpoint,
    tlsTerminated: terminates,
    // Passthrough: the backend sees the client's own TLS handshake, SNI included.
    ...(!terminates && sni !== undefined ? { passthroughSni: sni } : {}),
  };
}
