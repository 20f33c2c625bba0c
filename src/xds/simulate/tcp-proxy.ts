/**
 * A filter chain whose terminal filter is Envoy's TCP proxy (TLSRoute
 * chains): the connection, not an HTTP request, is what gets routed. Without
 * a TLS transport socket the client's TLS passes through to the backend;
 * with one Envoy completes the handshake and sends the plain stream on. The
 * cluster is the proxy's `cluster` or one of its `weighted_clusters` drawn by
 * the random value; a cluster that is not on the node, or one without a
 * healthy endpoint, has Envoy close the connection.
 */
import type { Handshake } from "./listener-match.ts";
import type { Json, NodeConfig } from "./node-config.ts";
import type { SimOutcome } from "./types.ts";
import { chooseCluster, clusterEndpoints, pickEndpoint } from "./upstream.ts";

const TCP_PROXY_TYPE = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";

/** The chain's TCP proxy configuration, when its filters end in one. */
export function tcpProxyOf(chain: Json): Json | undefined {
  const filters = (chain.filters as Json[] | undefined) ?? [];
  const cfg = filters[filters.length - 1]?.typed_config as Json | undefined;
  return cfg?.["@type"] === TCP_PROXY_TYPE ? cfg : undefined;
}

export function proxyConnection(
  config: NodeConfig,
  chain: Json,
  proxy: Json,
  tls: Handshake | undefined,
  sni: string | undefined,
  random: { cluster: number; endpoint: number },
  trace: string[],
): SimOutcome {
  const terminates = chain.transport_socket !== undefined;
  if (terminates && tls !== undefined && !tls.ok) return { kind: "connection-failed", reason: tls.reason };
  const chosen = chooseCluster(proxy, random.cluster);
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
    `TCP proxy (${terminates ? "TLS terminated" : "TLS passed through"}) to cluster ${chosen.cluster}, endpoint ${endpoint.address}:${endpoint.port}`,
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
