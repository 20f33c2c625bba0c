/** Codec of the ring buffer's records: mirrors `struct flow_event` (bpf/lib/events.h). */
import { readIpv4 } from "../../net/ipv4.ts";
import { layout, offsetOf } from "./layout.ts";

export const FLOW_EVENT = layout("flow_event", [
  ["timestamp", 8],
  ["type", 1],
  ["verdict", 1],
  ["drop_reason", 1],
  ["direction", 1],
  ["saddr", 4],
  ["daddr", 4],
  ["sport", 2],
  ["dport", 2],
  ["protocol", 1],
  ["tcp_flags", 1],
  ["endpoint_id", 2],
  ["src_identity", 4],
  ["dst_identity", 4],
  ["proxy_port", 2],
  ["auth_type", 1],
  ["pad", 1],
  ["remote_node", 4],
  ["ifindex", 4],
]);

export interface RawFlowEvent {
  readonly timestampNs: bigint;
  readonly type: number;
  readonly verdict: number;
  readonly dropReason: number;
  readonly direction: number;
  readonly source: string;
  readonly destination: string;
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly protocol: number;
  readonly tcpFlags: number;
  readonly endpointId: number;
  readonly sourceIdentity: number;
  readonly destinationIdentity: number;
  readonly proxyPort: number;
  readonly authType: number;
  readonly remoteNode: string;
  readonly ifindex: number;
}

/** undefined for a record of the wrong size (a datapath/agent version skew): skipped, not misread. */
export function decodeFlowEvent(b: Buffer): RawFlowEvent | undefined {
  if (b.length < FLOW_EVENT.size) return undefined;
  const at = (f: string) => offsetOf(FLOW_EVENT, f);
  return {
    timestampNs: b.readBigUInt64LE(at("timestamp")),
    type: b.readUInt8(at("type")),
    verdict: b.readUInt8(at("verdict")),
    dropReason: b.readUInt8(at("drop_reason")),
    direction: b.readUInt8(at("direction")),
    source: readIpv4(b, at("saddr")),
    destination: readIpv4(b, at("daddr")),
    sourcePort: b.readUInt16LE(at("sport")),
    destinationPort: b.readUInt16LE(at("dport")),
    protocol: b.readUInt8(at("protocol")),
    tcpFlags: b.readUInt8(at("tcp_flags")),
    endpointId: b.readUInt16LE(at("endpoint_id")),
    sourceIdentity: b.readUInt32LE(at("src_identity")),
    destinationIdentity: b.readUInt32LE(at("dst_identity")),
    proxyPort: b.readUInt16LE(at("proxy_port")),
    authType: b.readUInt8(at("auth_type")),
    remoteNode: readIpv4(b, at("remote_node")),
    ifindex: b.readUInt32LE(at("ifindex")),
  };
}
