/**
 * A resource the data plane refused: Envoy NACKed the version strait sent, or
 * strait withheld it because it fails strict encoding (a translator bug, so
 * no Envoy ever sees it). An input of the status stage (like the clock), so
 * that a rejection shows on the Gateway listeners and routes that produced
 * the resource.
 */

export type DataPlaneResource = "listener" | "route" | "cluster" | "endpoints" | "secret";

export interface DataPlaneRejection {
  readonly resource: DataPlaneResource;
  /** The Envoy resource name (listener `ns/gateway/port`, cluster `ns/service:port`, …). */
  readonly name: string;
  /** Envoy's error text, or the encoding error of a withheld resource. */
  readonly message: string;
  /** True when strait withheld the resource (it fails strict encoding) rather than Envoy refusing it. */
  readonly withheld?: boolean;
}
