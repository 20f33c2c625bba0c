/**
 * xds/server: the ADS server (state of the world and incremental) that every
 * node's Envoy, agent and proxyless gRPC client gets its configuration from.
 * It reads snapshots from xds/cache and keeps each stream's protocol state.
 */
export type { XdsLimits } from "./ads-stream.ts";
export type {
  AckStatus,
  ClientStatus,
  NackStatus,
  SentStatus,
  TypeStatus,
  XdsAnswer,
} from "./client-status.ts";
export { createXdsMetrics, type XdsMetrics } from "./metrics.ts";
export {
  DEFAULT_LIMITS,
  XdsServer,
  type XdsServerOptions,
  type XdsTls,
  type XdsTlsSource,
} from "./xds-server.ts";
