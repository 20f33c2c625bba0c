/**
 * The bootstrap of an Envoy that takes its whole configuration from strait
 * over ADS: listeners and clusters by ADS (routes, endpoints and secrets
 * follow through them), the xDS server as a static HTTP/2 cluster, the admin
 * interface on loopback. Pure: the caller writes it to a file.
 */

/** Incremental (delta) ADS, Envoy's `DELTA_GRPC`, or state of the world, `GRPC`. */
export type XdsApi = "delta" | "sotw";

export interface BootstrapOptions {
  /** Envoy's node.id; strait tells clients apart by it (or by `strait.dev/node`). */
  readonly nodeId: string;
  /** Envoy's node.cluster. */
  readonly cluster?: string;
  /** The Kubernetes node whose per-node resources this Envoy gets (`strait.dev/node` metadata). */
  readonly node?: string;
  readonly xds: { readonly host: string; readonly port: number };
  readonly api: XdsApi;
  /** Admin interface; port 0 lets Envoy pick one (it writes the bound address to --admin-address-path). */
  readonly admin: { readonly host: string; readonly port: number };
  /** TLS to the xDS server: client certificate and the CA the server's certificate chains to (files). */
  readonly tls?: {
    readonly certFile: string;
    readonly keyFile: string;
    readonly caFile: string;
    readonly sni?: string;
  };
  /** How long Envoy waits for the first LDS/CDS answer before it starts without them (default 15 s). */
  readonly initialFetchTimeout?: string;
  /** Runtime keys on top of ENVOY_RUNTIME (a static layer). */
  readonly runtime?: Readonly<Record<string, unknown>>;
}

export const XDS_CLUSTER = "strait-xds";

/**
 * Envoy's runtime as strait needs it. RE2 programs: Envoy refuses a regex
 * whose compiled program exceeds 100 instructions by default, and with it the
 * whole RouteConfiguration (every route of the listener); Gateway API regexes
 * are user input with no such limit, so the limit is raised to Istio's
 * 32768 (the warning level stays at 1000 so large ones still show in stats).
 */
export const ENVOY_RUNTIME: Readonly<Record<string, unknown>> = {
  "re2.max_program_size.error_level": 32768,
  "re2.max_program_size.warn_level": 1000,
};

function addressOf(host: string, port: number) {
  return { socket_address: { address: host, port_value: port } };
}

export function envoyBootstrap(options: BootstrapOptions): Record<string, unknown> {
  const configSource = {
    ads: {},
    resource_api_version: "V3",
    ...(options.initialFetchTimeout === undefined
      ? {}
      : { initial_fetch_timeout: options.initialFetchTimeout }),
  };
  const tls =
    options.tls === undefined
      ? {}
      : {
          transport_socket: {
            name: "envoy.transport_sockets.tls",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
              ...(options.tls.sni === undefined ? {} : { sni: options.tls.sni }),
              common_tls_context: {
                tls_certificates: [
                  {
                    certificate_chain: { filename: options.tls.certFile },
                    private_key: { filename: options.tls.keyFile },
                  },
                ],
                validation_context: { trusted_ca: { filename: options.tls.caFile } },
              },
            },
          },
        };
  return {
    node: {
      id: options.nodeId,
      cluster: options.cluster ?? "strait",
      ...(options.node === undefined ? {} : { metadata: { "strait.dev/node": options.node } }),
    },
    dynamic_resources: {
      ads_config: {
        api_type: options.api === "delta" ? "DELTA_GRPC" : "GRPC",
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
        set_node_on_first_message_only: true,
      },
      cds_config: configSource,
      lds_config: configSource,
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: "STATIC",
          connect_timeout: "1s",
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [
              { lb_endpoints: [{ endpoint: { address: addressOf(options.xds.host, options.xds.port) } }] },
            ],
          },
          ...tls,
        },
      ],
    },
    admin: { address: addressOf(options.admin.host, options.admin.port) },
    layered_runtime: {
      layers: [{ name: "strait", static_layer: { ...ENVOY_RUNTIME, ...options.runtime } }],
    },
    // No limit on downstream connections is Envoy's default, and it warns about it at every start;
    // the overload manager's resource monitor sets one, as Envoy's docs advise for an edge proxy.
    overload_manager: {
      resource_monitors: [
        {
          name: "envoy.resource_monitors.global_downstream_max_connections",
          typed_config: {
            "@type":
              "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
            max_active_downstream_connections: 50000,
          },
        },
      ],
    },
  };
}
