/** The xDS server's Prometheus metrics, registered on the process's registry. */
import { Counter, Gauge, type Registry } from "prom-client";

export interface XdsMetrics {
  readonly connectedClients: Gauge<"mode">;
  readonly pushes: Counter<"type" | "mode">;
  readonly pushBytes: Counter<"type" | "mode">;
  readonly nacks: Counter<"type">;
  readonly closedStreams: Counter<"reason">;
  readonly invalidResources: Counter<"layer">;
}

export function createXdsMetrics(registry: Registry): XdsMetrics {
  const registers = [registry];
  return {
    connectedClients: new Gauge({
      name: "strait_xds_connected_clients",
      help: "Open ADS streams, by mode (sotw: StreamAggregatedResources, delta: DeltaAggregatedResources).",
      labelNames: ["mode"] as const,
      registers,
    }),
    pushes: new Counter({
      name: "strait_xds_pushes_total",
      help: "xDS responses sent, by resource type and mode.",
      labelNames: ["type", "mode"] as const,
      registers,
    }),
    pushBytes: new Counter({
      name: "strait_xds_push_bytes_total",
      help: "Bytes of xDS responses sent (protobuf, before gRPC framing), by resource type and mode.",
      labelNames: ["type", "mode"] as const,
      registers,
    }),
    nacks: new Counter({
      name: "strait_xds_nacks_total",
      help: "Responses clients rejected (NACK, a request with error_detail), by resource type.",
      labelNames: ["type"] as const,
      registers,
    }),
    closedStreams: new Counter({
      name: "strait_xds_closed_streams_total",
      help: "ADS streams strait ended, by reason (malformed, limit, slow, shutdown).",
      labelNames: ["reason"] as const,
      registers,
    }),
    invalidResources: new Counter({
      name: "strait_xds_invalid_resources_total",
      help: "Resources that failed strict encoding (a translator bug); the previous snapshot stays.",
      labelNames: ["layer"] as const,
      registers,
    }),
  };
}
