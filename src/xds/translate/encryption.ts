/**
 * A node's encryption (model/encryption.ts) → its Envoy's tunnel
 * configuration, an HBONE-style tunnel (HTTP/2 CONNECT over mutual TLS 1.3
 * between the node Envoys, with the workloads' X.509-SVIDs):
 *
 * - outbound: `strait/encrypt/outbound`, transparent on 127.0.0.1:15004,
 *   where the datapath steers the flows of the encrypt map. One filter chain
 *   per (source identity, destination identity, port, destination node),
 *   matched on the source pods' addresses, the destination pods' prefixes
 *   (the ipcache's, on that node) and the port; its tcp_proxy sends the flow
 *   in a CONNECT stream for the original `podIP:port` to a cluster of that
 *   node's inbound listener, whose TLS presents the source identity's SVID,
 *   sends SNI `<destination identity>.<trust domain>` and accepts only the
 *   destination identity's SVID.
 * - inbound: `strait/encrypt/inbound` on `0.0.0.0:<tunnel port>`. One filter
 *   chain per local destination identity, chosen by SNI: it presents that
 *   identity's SVID and requires a client SVID of an identity allowed to
 *   reach it. Its routes, one per such source identity (told by the client
 *   certificate's URI in x-forwarded-client-cert, which Envoy sets itself),
 *   accept a CONNECT only for the destination's local pod addresses and
 *   allowed ports, and deliver it (ORIGINAL_DST, from :authority) with the
 *   from-proxy-authenticated mark of that source identity, which the
 *   destination's datapath takes as the flow's authenticated identity. The
 *   routes come over RDS (one configuration per local identity), so pods
 *   coming and going leave the chain, and the tunnels on it, alone.
 *
 * The SVIDs and the trust bundle come from the node's agent over SDS
 * (src/agent/envoy-sds.ts), through the cluster `strait/agent-sds` to its
 * unix socket; Envoy waits for a secret that is not there yet and takes a
 * rotated one in place.
 */

import {
  bundleSecretName,
  type DecryptEntry,
  ENCRYPT_PROXY_PORT,
  type EncryptEntry,
  envoySdsSocket,
  svidSecretName,
} from "../../model/encryption.ts";
import type { NodePolicy, SecurityIdentity } from "../../model/endpoint-policy.ts";
import { fromProxyAuthenticatedMark } from "../../model/proxy-marks.ts";
import { parseIpv4PrefixCached as parseIpv4Prefix } from "../../net/ipv4.ts";
import type {
  envoy_config_cluster_v3_Cluster as Cluster,
  envoy_config_listener_v3_FilterChain as FilterChain,
  envoy_config_listener_v3_Listener as Listener,
  envoy_config_route_v3_Route as Route,
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
} from "../proto/envoy-types.ts";
import { packAny } from "../proto/pack-any.ts";
import { cidr, type L7Resources, SO_MARK, SOL_SOCKET, transparentListenerOptions } from "./l7-policy.ts";
import { escapeRegex } from "./route.ts";

export const ENCRYPT_OUTBOUND_LISTENER = "strait/encrypt/outbound";
export const ENCRYPT_INBOUND_LISTENER = "strait/encrypt/inbound";

/** No slash: Envoy sends the cluster name as the gRPC :authority, and a slash is not allowed there. */
export const AGENT_SDS_CLUSTER = "strait-agent-sds";

export interface EncryptionTranslateOptions {
  /** The folder of the agents' SDS sockets (`--auth-encryption-sds-dir`). */
  readonly sdsDir: string;
  /** The inbound listener's address; every address of the node by default. */
  readonly inboundAddress?: string;
}

/** A tunnel stream can live as long as a TCP connection through tcp_proxy (its 1 h idle default). */
const TUNNEL_IDLE_TIMEOUT = "3600s";

function sds(name: string) {
  return {
    name,
    sds_config: {
      api_config_source: {
        api_type: "DELTA_GRPC",
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: AGENT_SDS_CLUSTER } }],
        set_node_on_first_message_only: true,
      },
      resource_api_version: "V3",
    },
  };
}

/** The cluster of the node agent's SDS socket. */
function agentSdsCluster(socket: string): Cluster {
  return {
    name: AGENT_SDS_CLUSTER,
    type: "STATIC",
    connect_timeout: "1s",
    typed_extension_protocol_options: HTTP2_ONLY,
    load_assignment: {
      cluster_name: AGENT_SDS_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: { pipe: { path: socket } } } }] }],
    },
  };
}

function commonTls(
  trustDomain: string,
  local: SecurityIdentity,
  peers: readonly SecurityIdentity[],
): Record<string, unknown> {
  return {
    tls_params: { tls_minimum_protocol_version: "TLSv1_3", tls_maximum_protocol_version: "TLSv1_3" },
    tls_certificate_sds_secret_configs: [sds(svidSecretName(trustDomain, local))],
    combined_validation_context: {
      default_validation_context: {
        match_typed_subject_alt_names: peers.map((p) => ({
          san_type: "URI",
          matcher: { exact: svidSecretName(trustDomain, p) },
        })),
      },
      validation_context_sds_secret_config: sds(bundleSecretName(trustDomain)),
    },
  };
}

export function tunnelSni(trustDomain: string, identity: SecurityIdentity): string {
  return `${identity}.${trustDomain}`;
}

function tunnelClusterName(source: SecurityIdentity, destination: SecurityIdentity, node: string): string {
  return `strait/encrypt/to/${node}/${source}/${destination}`;
}

function deliverClusterName(source: SecurityIdentity): string {
  return `strait/encrypt/deliver/${source}`;
}

const HTTP2_ONLY = {
  "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": packAny(
    "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    { explicit_http_config: { http2_protocol_options: {} } },
  ),
};

function portKey(port: number | "any"): string {
  return port === "any" ? "any" : String(port);
}

function outbound(
  node: NodePolicy,
  entries: readonly EncryptEntry[],
  trustDomain: string,
  tunnelPort: number,
): { listener?: Listener; clusters: Cluster[]; routes?: RouteConfiguration[] } {
  const chains: FilterChain[] = [];
  const clusters = new Map<string, Cluster>();
  for (const e of entries) {
    const sources = node.endpoints
      .filter((ep) => ep.identity === e.localIdentity)
      .flatMap((ep) => ep.addresses.map((a) => cidr(`${a}/32`)));
    if (sources.length === 0) continue;
    const byNode = new Map<string, string[]>();
    for (const c of node.ipcache) {
      if (c.identity !== e.remoteIdentity || c.node === undefined) continue;
      if (!parseIpv4Prefix(c.prefix).ok || !parseIpv4Prefix(`${c.node}/32`).ok) continue;
      byNode.set(c.node, [...(byNode.get(c.node) ?? []), c.prefix]);
    }
    for (const [remote, prefixes] of [...byNode].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const cluster = tunnelClusterName(e.localIdentity, e.remoteIdentity, remote);
      chains.push({
        name: `outbound/${e.localIdentity}/${e.remoteIdentity}/${portKey(e.port)}/${remote}`,
        filter_chain_match: {
          ...(e.port === "any" ? {} : { destination_port: e.port }),
          prefix_ranges: prefixes.sort().map(cidr),
          source_prefix_ranges: sources,
        },
        filters: [
          {
            name: "envoy.filters.network.tcp_proxy",
            typed_config: packAny("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
              stat_prefix: "strait_encrypt_outbound",
              cluster,
              tunneling_config: { hostname: "%DOWNSTREAM_LOCAL_ADDRESS%" },
            }),
          },
        ],
      });
      clusters.set(cluster, {
        name: cluster,
        type: "STATIC",
        connect_timeout: "5s",
        load_assignment: {
          cluster_name: cluster,
          endpoints: [
            {
              lb_endpoints: [
                { endpoint: { address: { socket_address: { address: remote, port_value: tunnelPort } } } },
              ],
            },
          ],
        },
        typed_extension_protocol_options: HTTP2_ONLY,
        transport_socket: {
          name: "envoy.transport_sockets.tls",
          typed_config: packAny("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
            sni: tunnelSni(trustDomain, e.remoteIdentity),
            common_tls_context: commonTls(trustDomain, e.localIdentity, [e.remoteIdentity]),
          }),
        },
      });
    }
  }
  if (chains.length === 0) return { clusters: [] };
  const { listener_filters, ...transparent } = transparentListenerOptions();
  return {
    listener: {
      name: ENCRYPT_OUTBOUND_LISTENER,
      address: { socket_address: { address: "127.0.0.1", port_value: ENCRYPT_PROXY_PORT } },
      ...transparent,
      // The original destination only: the tunnel leaves from the node's own address, not the pod's.
      listener_filters: (listener_filters ?? []).filter(
        (f) => f.name === "envoy.filters.listener.original_dst",
      ),
      filter_chains: chains,
    },
    clusters: [...clusters.values()],
  };
}

/** `^(a|b):(p|q)$` over the destination's addresses and the allowed ports, as :authority. */
function authorityRegex(addresses: readonly string[], ports: readonly (number | "any")[]): string {
  const hosts = addresses.map(escapeRegex).join("|");
  const portPart = ports.includes("any") ? "[0-9]+" : [...new Set(ports)].sort().join("|");
  return `^(${hosts}):(${portPart})$`;
}

function inbound(
  node: NodePolicy,
  entries: readonly DecryptEntry[],
  trustDomain: string,
  tunnelPort: number,
  address: string,
): { listener?: Listener; clusters: Cluster[]; routes?: RouteConfiguration[] } {
  const byDestination = new Map<SecurityIdentity, Map<SecurityIdentity, (number | "any")[]>>();
  for (const e of entries) {
    const peers = byDestination.get(e.localIdentity) ?? new Map<SecurityIdentity, (number | "any")[]>();
    peers.set(e.remoteIdentity, [...(peers.get(e.remoteIdentity) ?? []), e.port]);
    byDestination.set(e.localIdentity, peers);
  }
  const chains: FilterChain[] = [];
  const routeConfigs: RouteConfiguration[] = [];
  const sources = new Set<SecurityIdentity>();
  for (const [destination, peers] of [...byDestination].sort(([a], [b]) => a - b)) {
    const addresses = node.endpoints
      .filter((ep) => ep.identity === destination)
      .flatMap((ep) => ep.addresses);
    if (addresses.length === 0) continue;
    const peerIds = [...peers.keys()].sort((a, b) => a - b);
    const routeName = `strait/encrypt/inbound/${destination}`;
    const routes: Route[] = peerIds.map((source) => {
      sources.add(source);
      return {
        name: `from-${source}`,
        match: {
          connect_matcher: {},
          headers: [
            {
              name: "x-forwarded-client-cert",
              string_match: {
                safe_regex: { regex: `(.*;)?URI=${escapeRegex(svidSecretName(trustDomain, source))}(;.*)?` },
              },
            },
            {
              name: ":authority",
              string_match: { safe_regex: { regex: authorityRegex(addresses, peers.get(source) ?? []) } },
            },
          ],
        },
        route: {
          cluster: deliverClusterName(source),
          timeout: "0s",
          idle_timeout: TUNNEL_IDLE_TIMEOUT,
          upgrade_configs: [{ upgrade_type: "CONNECT", connect_config: {} }],
        },
      };
    });
    routeConfigs.push({ name: routeName, virtual_hosts: [{ name: "tunnel", domains: ["*"], routes }] });
    chains.push({
      name: `inbound/${destination}`,
      filter_chain_match: { server_names: [tunnelSni(trustDomain, destination)] },
      transport_socket: {
        name: "envoy.transport_sockets.tls",
        typed_config: packAny("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {
          require_client_certificate: true,
          common_tls_context: commonTls(trustDomain, destination, peerIds),
        }),
      },
      filters: [
        {
          name: "envoy.filters.network.http_connection_manager",
          typed_config: packAny(
            "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
            {
              stat_prefix: "strait_encrypt_inbound",
              codec_type: "HTTP2",
              http2_protocol_options: { allow_connect: true },
              upgrade_configs: [{ upgrade_type: "CONNECT" }],
              forward_client_cert_details: "SANITIZE_SET",
              set_current_client_cert_details: { uri: true },
              stream_idle_timeout: TUNNEL_IDLE_TIMEOUT,
              // Over RDS, so a pod of this identity coming or going changes its routes only:
              // the chain stays the same, and Envoy keeps the tunnels it carries (a changed
              // chain is drained).
              rds: { route_config_name: routeName, config_source: { ads: {}, resource_api_version: "V3" } },
              http_filters: [
                {
                  name: "envoy.filters.http.router",
                  typed_config: packAny("envoy.extensions.filters.http.router.v3.Router", {}),
                },
              ],
            },
          ),
        },
      ],
    });
  }
  if (chains.length === 0) return { clusters: [] };
  const clusters: Cluster[] = [...sources]
    .sort((a, b) => a - b)
    .map((source) => ({
      name: deliverClusterName(source),
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      connect_timeout: "5s",
      original_dst_lb_config: { use_http_header: true, http_header_name: ":authority" },
      upstream_bind_config: {
        source_address: { address: "0.0.0.0", port_value: 0 },
        socket_options: [
          {
            description: `strait from-proxy-authenticated mark of identity ${source}`,
            level: SOL_SOCKET,
            name: SO_MARK,
            int_value: fromProxyAuthenticatedMark(source),
            state: "STATE_PREBIND",
          },
        ],
      },
    }));
  return {
    listener: {
      name: ENCRYPT_INBOUND_LISTENER,
      address: { socket_address: { address, port_value: tunnelPort } },
      listener_filters: [
        {
          name: "envoy.filters.listener.tls_inspector",
          typed_config: packAny("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {}),
        },
      ],
      filter_chains: chains,
    },
    clusters,
    routes: routeConfigs,
  };
}

export interface EncryptionResources extends L7Resources {
  /** The inbound listener's routes, one configuration per local identity (RDS). */
  readonly routes: ReadonlyMap<string, RouteConfiguration>;
}

/** The node's tunnel listeners, clusters and routes; empty without encryption or without pairs. */
export function encryptionResources(
  node: NodePolicy,
  options: EncryptionTranslateOptions,
): EncryptionResources {
  const listeners = new Map<string, Listener>();
  const clusters = new Map<string, Cluster>();
  const routes = new Map<string, RouteConfiguration>();
  const enc = node.encryption;
  if (enc === undefined) return { listeners, clusters, routes };
  for (const part of [
    outbound(node, enc.outbound, enc.trustDomain, enc.tunnelPort),
    inbound(node, enc.inbound, enc.trustDomain, enc.tunnelPort, options.inboundAddress ?? "0.0.0.0"),
  ]) {
    if (part.listener?.name !== undefined) listeners.set(part.listener.name, part.listener);
    for (const c of part.clusters) if (c.name !== undefined) clusters.set(c.name, c);
    for (const r of part.routes ?? []) if (r.name !== undefined) routes.set(r.name, r);
  }
  if (listeners.size > 0)
    clusters.set(AGENT_SDS_CLUSTER, agentSdsCluster(envoySdsSocket(options.sdsDir, node.node)));
  return { listeners, clusters, routes };
}
