/** Codec of the endpoints map: mirrors `struct endpoint_key` and `struct endpoint_info` (bpf/lib/endpoints.h). */
import { type Ipv4Octets, readIpv4, writeIpv4 } from "../../net/ipv4.ts";
import { layout, offsetOf } from "./layout.ts";

export const ENDPOINT_KEY = layout("endpoint_key", [["addr", 4]]);
export const ENDPOINT_INFO = layout("endpoint_info", [
  ["ifindex", 4],
  ["identity", 4],
  ["id", 2],
  ["flags", 1],
  ["pad", 1],
]);

export const EP_FLAGS = { INGRESS_ENFORCED: 0x01, EGRESS_ENFORCED: 0x02 } as const;

export interface EndpointInfo {
  readonly ifindex: number;
  readonly identity: number;
  readonly id: number;
  readonly ingressEnforced: boolean;
  readonly egressEnforced: boolean;
}

/** Into `b` when given (zeroed, ENDPOINT_KEY.size bytes), else a new buffer. */
export function encodeEndpointKey(addr: Ipv4Octets, b: Buffer = Buffer.alloc(ENDPOINT_KEY.size)): Buffer {
  writeIpv4(b, offsetOf(ENDPOINT_KEY, "addr"), addr);
  return b;
}

export function decodeEndpointKey(b: Buffer): string {
  return readIpv4(b, offsetOf(ENDPOINT_KEY, "addr"));
}

export function encodeEndpointInfo(info: EndpointInfo): Buffer {
  const b = Buffer.alloc(ENDPOINT_INFO.size);
  b.writeUInt32LE(info.ifindex, offsetOf(ENDPOINT_INFO, "ifindex"));
  b.writeUInt32LE(info.identity, offsetOf(ENDPOINT_INFO, "identity"));
  b.writeUInt16LE(info.id, offsetOf(ENDPOINT_INFO, "id"));
  b.writeUInt8(
    (info.ingressEnforced ? EP_FLAGS.INGRESS_ENFORCED : 0) |
      (info.egressEnforced ? EP_FLAGS.EGRESS_ENFORCED : 0),
    offsetOf(ENDPOINT_INFO, "flags"),
  );
  return b;
}

export function decodeEndpointInfo(b: Buffer): EndpointInfo {
  const flags = b.readUInt8(offsetOf(ENDPOINT_INFO, "flags"));
  return {
    ifindex: b.readUInt32LE(offsetOf(ENDPOINT_INFO, "ifindex")),
    identity: b.readUInt32LE(offsetOf(ENDPOINT_INFO, "identity")),
    id: b.readUInt16LE(offsetOf(ENDPOINT_INFO, "id")),
    ingressEnforced: (flags & EP_FLAGS.INGRESS_ENFORCED) !== 0,
    egressEnforced: (flags & EP_FLAGS.EGRESS_ENFORCED) !== 0,
  };
}
