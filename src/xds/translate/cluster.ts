/**
 * ServiceBackend → Envoy Cluster: one EDS cluster per Service port, its
 * endpoints delivered over ADS as a ClusterLoadAssignment of the same name.
 * The same cluster serves Envoy and proxyless gRPC clients (gRPC requires
 * EDS over ADS and round-robin, which this is).
 */
import type { ServiceBackend, UpstreamTls } from "../../model/backend.ts";
import type {
  envoy_config_cluster_v3_Cluster as Cluster,
  envoy_extensions_transport_sockets_tls_v3_SubjectAltNameMatcher as SubjectAltNameMatcher,
  envoy_config_core_v3_TransportSocket as TransportSocket,
} from "../proto/envoy-types.ts";
import { packAny } from "../proto/pack-any.ts";
import { caBundleSecretName } from "./listener.ts";
import { ADS } from "./type-urls.ts";

/** The node's trust store, for BackendTLSPolicy's wellKnownCACertificates: System (Debian's bundle path). */
const SYSTEM_CA_FILE = "/etc/ssl/certs/ca-certificates.crt";

/**
 * TLS to the backend (BackendTLSPolicy): SNI, and the certificate checked
 * against the CA bundle and the names the policy gives (the SNI itself when
 * it lists none).
 */
function upstreamTls(tls: UpstreamTls, protocol: ServiceBackend["protocol"]): TransportSocket {
  const names =
    tls.subjectAltNames.length === 0 ? [{ type: "DNS" as const, value: tls.sni }] : tls.subjectAltNames;
  const sanMatchers: SubjectAltNameMatcher[] = names.map((n) => ({
    san_type: n.type,
    matcher: { exact: n.value },
  }));
  return {
    name: "envoy.transport_sockets.tls",
    typed_config: packAny("envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext", {
      sni: tls.sni,
      common_tls_context: {
        alpn_protocols: protocol === "http2" ? ["h2"] : ["http/1.1"],
        ...(tls.clientCertificate === undefined
          ? {}
          : { tls_certificate_sds_secret_configs: [{ name: tls.clientCertificate, sds_config: ADS }] }),
        ...(tls.trust.kind === "system"
          ? {
              validation_context: {
                trusted_ca: { filename: SYSTEM_CA_FILE },
                match_typed_subject_alt_names: sanMatchers,
              },
            }
          : {
              combined_validation_context: {
                default_validation_context: { match_typed_subject_alt_names: sanMatchers },
                validation_context_sds_secret_config: {
                  name: caBundleSecretName(tls.trust.name),
                  sds_config: ADS,
                },
              },
            }),
      },
    }),
  };
}

/** Proto3 JSON of an Envoy Cluster (envoy.config.cluster.v3.Cluster). */
export type ClusterJson = Cluster;

export function buildCluster(backend: ServiceBackend): ClusterJson {
  return {
    name: backend.clusterName,
    type: "EDS",
    eds_cluster_config: {
      eds_config: { ads: {}, resource_api_version: "V3" },
      service_name: backend.clusterName,
    },
    connect_timeout: "10s",
    lb_policy: "ROUND_ROBIN",
    // The same limit Envoy Gateway and Istio use: bounded memory per connection.
    per_connection_buffer_limit_bytes: 32768,
    ...(backend.tls === undefined ? {} : { transport_socket: upstreamTls(backend.tls, backend.protocol) }),
    ...(backend.protocol === "http2"
      ? {
          // appProtocol kubernetes.io/h2c or grpc: speak HTTP/2 in clear text to the upstream.
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": packAny(
              "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              { explicit_http_config: { http2_protocol_options: {} } },
            ),
          },
        }
      : {}),
  };
}
