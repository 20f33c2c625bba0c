/**
 * ServiceBackend → Envoy Cluster: one EDS cluster per Service port, its
 * endpoints delivered over ADS as a ClusterLoadAssignment of the same name.
 * The same cluster serves Envoy and proxyless gRPC clients (gRPC requires
 * EDS over ADS and round-robin, which this is).
 */
import type { ServiceBackend } from "../../model/backend.ts";

const HTTP_PROTOCOL_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions";

/** Proto3 JSON of an Envoy Cluster (envoy.config.cluster.v3.Cluster). */
export type ClusterJson = Readonly<Record<string, unknown>>;

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
    ...(backend.protocol === "http2"
      ? {
          // appProtocol kubernetes.io/h2c or grpc: speak HTTP/2 in clear text to the upstream.
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": HTTP_PROTOCOL_OPTIONS,
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
        }
      : {}),
  };
}
