/**
 * Gateway ports → Listeners: one per Gateway address and port. HTTP ports
 * have one filter chain; HTTPS and TLS ports one per HTTPS listener and one
 * per TLSRoute of a TLS listener, chosen by SNI (the TLS inspector reads it).
 * An HTTPS chain terminates TLS with its certificates from SDS and routes
 * through its own RouteConfiguration over RDS; a TLSRoute chain proxies the
 * TCP stream (tcp_proxy) to the route's weighted clusters, terminating TLS
 * first in Terminate mode.
 */
import type { GatewayPort, TcpChain, TlsChain } from "../../model/gateway.ts";
import { httpFilters } from "./http-filters.ts";
import { ADS, EXTENSION_TYPES } from "./type-urls.ts";

type Json = Record<string, unknown>;

/** SDS name of a CA bundle, distinct from certificate names (`namespace/name`). */
export function caBundleSecretName(bundle: string): string {
  return `${bundle}/ca.crt`;
}

function connectionManager(statPrefix: string, routeConfig: string): Json {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: {
      "@type": EXTENSION_TYPES.httpConnectionManager,
      stat_prefix: statPrefix,
      codec_type: "AUTO",
      rds: { route_config_name: routeConfig, config_source: ADS },
      http_filters: httpFilters(),
      // WebSocket upgrades pass through to backends that speak it (kubernetes.io/ws).
      upgrade_configs: [{ upgrade_type: "websocket" }],
      use_remote_address: true,
      normalize_path: true,
    },
  };
}

function tlsContext(chain: Pick<TlsChain, "certificates" | "clientValidation"> & { alpn?: false }): Json {
  const validation = chain.clientValidation;
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": EXTENSION_TYPES.downstreamTlsContext,
      common_tls_context: {
        tls_certificate_sds_secret_configs: chain.certificates.map((name) => ({ name, sds_config: ADS })),
        ...(chain.alpn === false ? {} : { alpn_protocols: ["h2", "http/1.1"] }),
        ...(validation === undefined
          ? {}
          : {
              combined_validation_context: {
                // AllowInsecureFallback: ask for a certificate, but let clients without one or with an untrusted one in.
                default_validation_context: validation.optional
                  ? { trust_chain_verification: "ACCEPT_UNTRUSTED" }
                  : {},
                validation_context_sds_secret_config: {
                  name: caBundleSecretName(validation.caBundle),
                  sds_config: ADS,
                },
              },
            }),
      },
      ...(validation !== undefined && !validation.optional ? { require_client_certificate: true } : {}),
    },
  };
}

/**
 * A cluster name no backend has (cluster names are `namespace/service:port`):
 * the share of connections of an invalid backendRef goes there, and Envoy's
 * TCP proxy closes a connection whose cluster does not exist.
 */
export const INVALID_BACKEND_CLUSTER = "strait-invalid-backend";

function tcpProxy(chain: TcpChain): Json {
  const weighted = chain.backends.filter((b) => b.weight > 0);
  const only = weighted.length === 1 ? weighted[0] : undefined;
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: {
      "@type": EXTENSION_TYPES.tcpProxy,
      stat_prefix: chain.name,
      ...(only !== undefined || weighted.length === 0
        ? { cluster: only?.cluster ?? INVALID_BACKEND_CLUSTER }
        : {
            weighted_clusters: {
              clusters: weighted.map((b) => ({
                name: b.cluster ?? INVALID_BACKEND_CLUSTER,
                weight: b.weight,
              })),
            },
          }),
    },
  };
}

/** A TLSRoute chain in Terminate mode: the listener's certificates, no ALPN (the stream is not HTTP). */
function terminateContext(chain: TcpChain): Json {
  return tlsContext({ certificates: chain.certificates, alpn: false });
}

function serverNameMatch(names: readonly string[]): Json {
  return names.length === 0 ? {} : { filter_chain_match: { server_names: [...names] } };
}

export function buildListener(port: GatewayPort): Json {
  const chains: Json[] =
    port.protocol === "HTTP"
      ? [{ name: port.name, filters: [connectionManager(port.name, port.routeTable ?? port.name)] }]
      : [
          ...port.tlsChains.map((chain) => ({
            name: chain.name,
            ...serverNameMatch(chain.serverNames),
            transport_socket: tlsContext(chain),
            filters: [connectionManager(chain.name, chain.routeTable)],
          })),
          ...port.tcpChains.map((chain) => ({
            name: chain.name,
            ...serverNameMatch(chain.serverNames),
            ...(chain.mode === "Terminate" ? { transport_socket: terminateContext(chain) } : {}),
            filters: [tcpProxy(chain)],
          })),
        ];
  if (chains.length === 0) {
    // A TLS port no TLSRoute serves yet: Envoy needs a chain, and this one closes every connection.
    chains.push({
      name: `${port.name}/no-route`,
      filters: [
        tcpProxy({
          name: `${port.name}/no-route`,
          serverNames: [],
          mode: "Passthrough",
          certificates: [],
          backends: [],
          sources: [],
        }),
      ],
    });
  }
  return {
    name: port.name,
    address: { socket_address: { address: port.address, port_value: port.port } },
    ...(port.protocol !== "HTTP"
      ? {
          listener_filters: [
            {
              name: "envoy.filters.listener.tls_inspector",
              typed_config: { "@type": EXTENSION_TYPES.tlsInspector },
            },
          ],
        }
      : {}),
    filter_chains: chains,
    per_connection_buffer_limit_bytes: 32768,
  };
}
