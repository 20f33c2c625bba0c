/**
 * Gateway ports → Listeners: one per Gateway address and port. HTTP ports
 * have one filter chain; HTTPS and TLS ports one per HTTPS listener and one
 * per TLSRoute of a TLS listener, chosen by SNI (the TLS inspector reads it).
 * An HTTPS chain terminates TLS with its certificates from SDS and routes
 * through its own RouteConfiguration over RDS; a TLSRoute chain proxies the
 * TCP stream (tcp_proxy) to the route's weighted clusters, terminating TLS
 * first in Terminate mode.
 */
import type { Exclusion } from "../../model/exclusion.ts";
import type { GatewayPort, TcpChain, TlsChain } from "../../model/gateway.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import type {
  envoy_config_listener_v3_Filter as Filter,
  envoy_config_listener_v3_FilterChain as FilterChain,
  envoy_config_listener_v3_Listener as Listener,
  envoy_config_core_v3_TransportSocket as TransportSocket,
} from "../proto/envoy-types.ts";
import { packAny } from "../proto/pack-any.ts";
import { httpFilters } from "./http-filters.ts";
import { PART_TYPES, PartChecker, resourceEncodes } from "./strict-check.ts";
import { ADS } from "./type-urls.ts";

/** SDS name of a CA bundle, distinct from certificate names (`namespace/name`). */
export function caBundleSecretName(bundle: string): string {
  return `${bundle}/ca.crt`;
}

/** The HTTP connection manager of a chain: its routes over RDS, the shared HTTP filters. */
export function connectionManager(statPrefix: string, routeConfig: string): Filter {
  return {
    name: "envoy.filters.network.http_connection_manager",
    typed_config: packAny(
      "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
      {
        stat_prefix: statPrefix,
        codec_type: "AUTO",
        rds: { route_config_name: routeConfig, config_source: ADS },
        http_filters: httpFilters(),
        // WebSocket upgrades pass through to backends that speak it (kubernetes.io/ws).
        upgrade_configs: [{ upgrade_type: "websocket" }],
        use_remote_address: true,
        normalize_path: true,
      },
    ),
  };
}

function tlsContext(
  chain: Pick<TlsChain, "certificates" | "clientValidation"> & { alpn?: false },
): TransportSocket {
  const validation = chain.clientValidation;
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: packAny("envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext", {
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
    }),
  };
}

/**
 * A cluster name no backend has (cluster names are `namespace/service:port`):
 * the share of connections of an invalid backendRef goes there, and Envoy's
 * TCP proxy closes a connection whose cluster does not exist.
 */
export const INVALID_BACKEND_CLUSTER = "strait-invalid-backend";

function tcpProxy(chain: TcpChain): Filter {
  const weighted = chain.backends.filter((b) => b.weight > 0);
  const only = weighted.length === 1 ? weighted[0] : undefined;
  return {
    name: "envoy.filters.network.tcp_proxy",
    typed_config: packAny("envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy", {
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
    }),
  };
}

/** A TLSRoute chain in Terminate mode: the listener's certificates, no ALPN (the stream is not HTTP). */
function terminateContext(chain: TcpChain): TransportSocket {
  return tlsContext({ certificates: chain.certificates, alpn: false });
}

function serverNameMatch(names: readonly string[]): Pick<FilterChain, "filter_chain_match"> {
  return names.length === 0 ? {} : { filter_chain_match: { server_names: [...names] } };
}

function tlsChain(chain: TlsChain): FilterChain {
  return {
    name: chain.name,
    ...serverNameMatch(chain.serverNames),
    transport_socket: tlsContext(chain),
    filters: [connectionManager(chain.name, chain.routeTable)],
  };
}

function tcpChain(chain: TcpChain): FilterChain {
  return {
    name: chain.name,
    ...serverNameMatch(chain.serverNames),
    ...(chain.mode === "Terminate" ? { transport_socket: terminateContext(chain) } : {}),
    filters: [tcpProxy(chain)],
  };
}

function assemble(port: GatewayPort, chains: readonly FilterChain[]): Listener {
  return {
    name: port.name,
    address: { socket_address: { address: port.address, port_value: port.port } },
    ...(port.protocol !== "HTTP"
      ? {
          listener_filters: [
            {
              name: "envoy.filters.listener.tls_inspector",
              typed_config: packAny("envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector", {}),
            },
          ],
        }
      : {}),
    filter_chains: [...chains],
    per_connection_buffer_limit_bytes: 32768,
  };
}

/** A TLS port no chain serves (yet): Envoy needs a chain, and this one closes every connection. */
function closingChain(port: GatewayPort): FilterChain {
  return tcpChain({
    name: `${port.name}/no-route`,
    serverNames: [],
    mode: "Passthrough",
    certificates: [],
    backends: [],
    sources: [],
  });
}

/**
 * The port's Listener, and the parts left out: an HTTPS or TLSRoute chain that
 * does not encode is left out alone (the port's other chains are served); a
 * listener whose own fields do not encode is left out whole (`json` undefined).
 * The whole is checked first (one encoding for a valid pass); the chains only
 * when it fails, to find which.
 */
export function buildListener(port: GatewayPort): {
  readonly json: Listener | undefined;
  readonly excluded: readonly Exclusion[];
} {
  if (port.protocol === "HTTP") {
    const json = assemble(port, [
      { name: port.name, filters: [connectionManager(port.name, port.routeTable ?? port.name)] },
    ]);
    const checker = new PartChecker("listener", port.name);
    const ok =
      resourceEncodes(TYPE_URLS.listener, json) ||
      checker.accept("listener", PART_TYPES.listener, port.name, json, port.sources);
    return { json: ok ? json : undefined, excluded: checker.excluded };
  }
  const chains = [
    ...port.tlsChains.map((chain) => ({ chain, json: tlsChain(chain) })),
    ...port.tcpChains.map((chain) => ({ chain, json: tcpChain(chain) })),
  ];
  const all = chains.map((c) => c.json);
  const whole = assemble(port, all.length > 0 ? all : [closingChain(port)]);
  if (resourceEncodes(TYPE_URLS.listener, whole)) return { json: whole, excluded: [] };
  const checker = new PartChecker("listener", port.name);
  const good = chains
    .filter(({ chain, json }) =>
      checker.accept("tlsChain", PART_TYPES.tlsChain, chain.name, json, chain.sources),
    )
    .map(({ json }) => json);
  const json = assemble(port, good.length > 0 ? good : [closingChain(port)]);
  const ok = checker.accept("listener", PART_TYPES.listener, port.name, json, port.sources);
  return { json: ok ? json : undefined, excluded: checker.excluded };
}
