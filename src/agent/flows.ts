/**
 * Flows: the datapath's ring-buffer events turned into readable records
 * (addresses with pod names, verdict and reason names, wall-clock time),
 * kept in a bounded buffer for `strait observe` and streamed to followers.
 */
import type { RawFlowEvent } from "../datapath/codecs/flow-event.ts";
import { DIR, DROP_REASON_NAMES, EVENT_NAMES, VERDICT_NAMES } from "../datapath/reasons.ts";

export interface FlowPeer {
  readonly ip: string;
  readonly port: number;
  readonly identity: number;
  readonly pod?: string;
}

/** One flow as the local API serves it (JSON). */
export interface Flow {
  readonly time: string;
  readonly verdict: "FORWARDED" | "DROPPED" | "REDIRECTED";
  readonly dropReason?: string;
  readonly eventType: string;
  readonly direction: "ingress" | "egress";
  /** Where it was seen: the endpoint's veth ingress (from-endpoint) or egress (to-endpoint). */
  readonly observationPoint: "from-endpoint" | "to-endpoint";
  readonly endpointId: number;
  readonly protocol: string;
  readonly source: FlowPeer;
  readonly destination: FlowPeer;
  readonly tcpFlags?: readonly string[];
  readonly proxyPort?: number;
  /** An HTTP request the node's Envoy handled on an L7 policy port (from its access log). */
  readonly l7?: {
    readonly protocol: string;
    readonly method: string;
    readonly path: string;
    readonly authority: string;
    readonly status: number;
    /** Envoy's response code details, e.g. `rbac_access_denied_matched_policy[none]`. */
    readonly details: string;
    readonly durationMs: number;
  };
  readonly auth?: {
    readonly type: string;
    readonly localIdentity: number;
    readonly remoteIdentity: number;
    readonly remoteNode: string;
  };
}

const PROTOCOLS: Readonly<Record<number, string>> = { 1: "ICMP", 6: "TCP", 17: "UDP", 132: "SCTP" };
const TCP_FLAGS: readonly [number, string][] = [
  [0x02, "SYN"],
  [0x10, "ACK"],
  [0x01, "FIN"],
  [0x04, "RST"],
  [0x08, "PSH"],
  [0x20, "URG"],
];
const AUTH_NAMES: Readonly<Record<number, string>> = {
  1: "mtls-spiffe",
  2: "always-fail",
  3: "mtls-spiffe-encrypted",
};

export function toFlow(
  ev: RawFlowEvent,
  wallTimeOfBootNs: (ns: bigint) => Date,
  podOf: (ip: string) => string | undefined,
): Flow {
  const egress = ev.direction === DIR.EGRESS;
  const peer = (ip: string, port: number, identity: number): FlowPeer => {
    const pod = podOf(ip);
    return { ip, port, identity, ...(pod === undefined ? {} : { pod }) };
  };
  const verdict = (VERDICT_NAMES[ev.verdict] ?? "dropped").toUpperCase() as Flow["verdict"];
  const flags = TCP_FLAGS.filter(([bit]) => (ev.tcpFlags & bit) !== 0).map(([, n]) => n);
  return {
    time: wallTimeOfBootNs(ev.timestampNs).toISOString(),
    verdict,
    ...(ev.dropReason === 0
      ? {}
      : { dropReason: DROP_REASON_NAMES[ev.dropReason] ?? `reason ${ev.dropReason}` }),
    eventType: EVENT_NAMES[ev.type] ?? `type ${ev.type}`,
    direction: egress ? "egress" : "ingress",
    observationPoint: egress ? "from-endpoint" : "to-endpoint",
    endpointId: ev.endpointId,
    protocol: PROTOCOLS[ev.protocol] ?? String(ev.protocol),
    source: peer(ev.source, ev.sourcePort, ev.sourceIdentity),
    destination: peer(ev.destination, ev.destinationPort, ev.destinationIdentity),
    ...(ev.protocol === 6 ? { tcpFlags: flags } : {}),
    ...(ev.proxyPort === 0 ? {} : { proxyPort: ev.proxyPort }),
    ...(ev.authType === 0
      ? {}
      : {
          auth: {
            type: AUTH_NAMES[ev.authType] ?? String(ev.authType),
            localIdentity: egress ? ev.sourceIdentity : ev.destinationIdentity,
            remoteIdentity: egress ? ev.destinationIdentity : ev.sourceIdentity,
            remoteNode: ev.remoteNode,
          },
        }),
  };
}

/**
 * The last `capacity` events, kept raw in a ring and turned into flows only
 * when someone reads them: at tens of thousands of new connections per
 * second, decoding every event eagerly would cost the node a good part of a
 * core for flows nobody looks at. Followers get each event decoded as it comes.
 */
export class FlowBuffer {
  readonly #capacity: number;
  /** Raw datapath records, or flows already made (the proxy's L7 records). */
  readonly #ring: (Buffer | Flow | undefined)[];
  #next = 0;
  readonly #listeners = new Set<(f: Flow) => void>();
  readonly #decode: (record: Buffer) => Flow | undefined;
  total = 0;

  /** `decode` turns a ring-buffer record into a flow (undefined: not a flow event, skipped). */
  constructor(decode: (record: Buffer) => Flow | undefined, capacity = 10_000) {
    this.#decode = decode;
    this.#capacity = capacity;
    this.#ring = new Array(capacity);
  }

  push(record: Buffer): void {
    this.total++;
    this.#ring[this.#next] = record;
    this.#next = (this.#next + 1) % this.#capacity;
    if (this.#listeners.size === 0) return;
    const flow = this.#decode(record);
    if (flow !== undefined) for (const l of this.#listeners) l(flow);
  }

  /** A flow that is already made (an L7 record of the node's Envoy). */
  pushFlow(flow: Flow): void {
    this.total++;
    this.#ring[this.#next] = flow;
    this.#next = (this.#next + 1) % this.#capacity;
    for (const l of this.#listeners) l(flow);
  }

  /** Oldest first. */
  list(): Flow[] {
    const out: Flow[] = [];
    for (let i = 0; i < this.#capacity; i++) {
      const record = this.#ring[(this.#next + i) % this.#capacity];
      const flow = record === undefined ? undefined : Buffer.isBuffer(record) ? this.#decode(record) : record;
      if (flow !== undefined) out.push(flow);
    }
    return out;
  }

  subscribe(listener: (f: Flow) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
