/** Type URLs of the Envoy extensions strait puts into `typed_config` fields. */
const T = "type.googleapis.com/";

export const EXTENSION_TYPES = {
  httpConnectionManager: `${T}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
  router: `${T}envoy.extensions.filters.http.router.v3.Router`,
  cors: `${T}envoy.extensions.filters.http.cors.v3.Cors`,
  corsPolicy: `${T}envoy.extensions.filters.http.cors.v3.CorsPolicy`,
  tcpProxy: `${T}envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy`,
  tlsInspector: `${T}envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector`,
  downstreamTlsContext: `${T}envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext`,
  httpProtocolOptions: `${T}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
} as const;

/** The ADS config source every dynamic reference uses. */
export const ADS = { ads: {}, resource_api_version: "V3" } as const;
