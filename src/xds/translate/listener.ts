/**
 * Gateway ports → Listeners: one per Gateway address and port. HTTP ports
 * have one filter chain; HTTPS ports one per Gateway listener, chosen by SNI
 * (the TLS inspector reads it), each terminating TLS with its certificates
 * from SDS and routing through its own RouteConfiguration over RDS.
 */
import type { Exclusion } from "../../model/exclusion.ts";
import type { GatewayPort, TlsChain } from "../../model/gateway.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import { httpFilters } from "./http-filters.ts";
import { PART_TYPES, PartChecker, resourceEncodes } from "./strict-check.ts";
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

function tlsContext(chain: TlsChain): Json {
  const validation = chain.clientValidation;
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: {
      "@type": EXTENSION_TYPES.downstreamTlsContext,
      common_tls_context: {
        tls_certificate_sds_secret_configs: chain.certificates.map((name) => ({ name, sds_config: ADS })),
        alpn_protocols: ["h2", "http/1.1"],
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

function tlsChain(chain: TlsChain): Json {
  return {
    name: chain.name,
    ...(chain.serverNames.length === 0
      ? {}
      : { filter_chain_match: { server_names: [...chain.serverNames] } }),
    transport_socket: tlsContext(chain),
    filters: [connectionManager(chain.name, chain.routeTable)],
  };
}

function assemble(port: GatewayPort, chains: readonly Json[]): Json {
  return {
    name: port.name,
    address: { socket_address: { address: port.address, port_value: port.port } },
    ...(port.protocol === "HTTPS"
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

/**
 * The port's Listener, and the parts left out: an HTTPS chain that does not
 * encode is left out alone (the port's other Gateway listeners are served);
 * a listener whose own fields do not encode is left out whole (`json`
 * undefined). The whole is checked first; the chains only when it fails.
 */
export function buildListener(port: GatewayPort): {
  readonly json: Json | undefined;
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
  const chains = port.tlsChains.map((chain) => ({ chain, json: tlsChain(chain) }));
  const whole = assemble(
    port,
    chains.map((c) => c.json),
  );
  if (resourceEncodes(TYPE_URLS.listener, whole)) return { json: whole, excluded: [] };
  const checker = new PartChecker("listener", port.name);
  const good = chains
    .filter(({ chain, json }) =>
      checker.accept("tlsChain", PART_TYPES.tlsChain, chain.name, json, chain.sources),
    )
    .map(({ json }) => json);
  const json = assemble(port, good);
  const ok =
    good.length > 0 && checker.accept("listener", PART_TYPES.listener, port.name, json, port.sources);
  return { json: ok ? json : undefined, excluded: checker.excluded };
}
