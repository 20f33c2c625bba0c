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
  /**
   * TLS to the xDS server: the client certificate, from files or from a
   * file-based SDS secret (sdsCertificate), and the CA the server's
   * certificate chains to (a file); `serverSan` pins the server's URI SAN.
   */
  readonly tls?: {
    readonly certFile?: string;
    readonly keyFile?: string;
    readonly sdsCertificate?: SdsFile;
    readonly caFile: string;
    readonly sni?: string;
    readonly serverSan?: string;
  };
  /** How long Envoy waits for the first LDS/CDS answer before it starts without them (default 15 s). */
  readonly initialFetchTimeout?: string;
  /** Runtime keys on top of ENVOY_RUNTIME (a static layer). */
  readonly runtime?: Readonly<Record<string, unknown>>;
}

export const XDS_CLUSTER = "strait-xds";

/**
 * A secret Envoy reads from a file (file-based SDS) and reloads when a file
 * is moved into `dir` (`watched_directory`): the writer renames a complete
 * new file over the old one, so Envoy never reads half of one.
 */
export interface SdsFile {
  /** The folder Envoy watches. */
  readonly dir: string;
  /** The file's name in it. */
  readonly file: string;
  /** The secret's name. */
  readonly name: string;
}

/** The name of the xDS client certificate's secret, and its file's, in the SDS folder. */
export const XDS_CLIENT_SECRET = "strait-xds-client";
export const XDS_CLIENT_SECRET_FILE = "xds-client.yaml";

/**
 * The content of a file-based SDS file with one TLS certificate secret, the
 * chain and key inline so that one rename swaps both at once.
 */
export function sdsTlsCertificateFile(name: string, chainPem: string, keyPem: string): string {
  return `${JSON.stringify(
    {
      resources: [
        {
          "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret",
          name,
          tls_certificate: {
            certificate_chain: { inline_string: chainPem },
            private_key: { inline_string: keyPem },
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

/** The SDS config source of `sds`. */
export function sdsFileConfig(sds: SdsFile): Record<string, unknown> {
  return {
    name: sds.name,
    sds_config: {
      path_config_source: {
        path: `${sds.dir.replace(/\/+$/, "")}/${sds.file}`,
        watched_directory: { path: sds.dir },
      },
      resource_api_version: "V3",
    },
  };
}

function clientCertificate(tls: NonNullable<BootstrapOptions["tls"]>): Record<string, unknown> {
  if (tls.sdsCertificate !== undefined) {
    return { tls_certificate_sds_secret_configs: [sdsFileConfig(tls.sdsCertificate)] };
  }
  if (tls.certFile === undefined || tls.keyFile === undefined) {
    throw new TypeError("envoyBootstrap: tls needs certFile and keyFile, or sdsCertificate");
  }
  return {
    tls_certificates: [
      { certificate_chain: { filename: tls.certFile }, private_key: { filename: tls.keyFile } },
    ],
  };
}

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
                ...clientCertificate(options.tls),
                validation_context: {
                  trusted_ca: { filename: options.tls.caFile },
                  ...(options.tls.serverSan === undefined
                    ? {}
                    : {
                        match_typed_subject_alt_names: [
                          { san_type: "URI", matcher: { exact: options.tls.serverSan } },
                        ],
                      }),
                },
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
