/**
 * What the server reports about each connected client, for the ops API
 * (`/api/v1/xds/clients`) and `strait proxy-status`.
 */

export interface SentStatus {
  readonly version: string;
  readonly nonce: string;
  readonly at: string;
  /** Resources in the response. */
  readonly resources: number;
  /** Delta: names in removed_resources. */
  readonly removed: number;
}

export interface AckStatus {
  readonly version: string;
  readonly nonce: string;
  readonly at: string;
}

export interface NackStatus extends AckStatus {
  /** error_detail.message of the NACK. */
  readonly error: string;
  /** Some of the resources of the rejected response (at most ten). */
  readonly resources: readonly string[];
}

export interface TypeStatus {
  readonly typeUrl: string;
  /** LDS, RDS, CDS, EDS, SDS, or the type name. */
  readonly type: string;
  readonly wildcard: boolean;
  /** Explicitly subscribed names. */
  readonly names: number;
  readonly lastSent?: SentStatus;
  readonly lastAcked?: AckStatus;
  readonly lastNacked?: NackStatus;
  readonly nacks: number;
}

export interface ClientStatus {
  readonly stream: number;
  readonly mode: "sotw" | "delta";
  readonly peer: string;
  readonly connectedAt: string;
  readonly node: { readonly id: string; readonly cluster: string; readonly userAgent: string };
  readonly types: readonly TypeStatus[];
}

/** A client's answer to one response: ACK (accepted) or NACK, with what the response carried. */
export interface XdsAnswer {
  readonly stream: number;
  /** The client's node.id. */
  readonly node: string;
  readonly typeUrl: string;
  readonly accepted: boolean;
  /** NACK: error_detail.message. */
  readonly error?: string;
  /** The resources of the answered response, with the versions sent. */
  readonly resources: readonly { readonly name: string; readonly version: string }[];
}
