/** Codec of connection tracking: mirrors `struct ct_key` and `struct ct_entry` (bpf/lib/ct.h). */
import { readIpv4 } from "../../net/ipv4.ts";
import { layout, offsetOf } from "./layout.ts";

export const CT_KEY = layout("ct_key", [
  ["saddr", 4],
  ["daddr", 4],
  ["sport", 2],
  ["dport", 2],
  ["protocol", 1],
  ["direction", 1],
  ["pad", 2],
]);
export const CT_ENTRY = layout("ct_entry", [
  ["expires", 8],
  ["packets", 8],
  ["src_identity", 4],
  ["proxy_port", 2],
  ["flags", 1],
  ["pad", 1],
]);

export interface CtFlow {
  readonly source: string;
  readonly destination: string;
  readonly sourcePort: number;
  readonly destinationPort: number;
  readonly protocol: number;
  readonly direction: number;
}

export interface CtEntry {
  readonly expiresNs: bigint;
  readonly packets: bigint;
  readonly sourceIdentity: number;
  readonly proxyPort: number;
  readonly seenReply: boolean;
}

export function decodeCtKey(b: Buffer): CtFlow {
  return {
    source: readIpv4(b, offsetOf(CT_KEY, "saddr")),
    destination: readIpv4(b, offsetOf(CT_KEY, "daddr")),
    sourcePort: b.readUInt16BE(offsetOf(CT_KEY, "sport")),
    destinationPort: b.readUInt16BE(offsetOf(CT_KEY, "dport")),
    protocol: b.readUInt8(offsetOf(CT_KEY, "protocol")),
    direction: b.readUInt8(offsetOf(CT_KEY, "direction")),
  };
}

export function decodeCtEntry(b: Buffer): CtEntry {
  return {
    expiresNs: b.readBigUInt64LE(offsetOf(CT_ENTRY, "expires")),
    packets: b.readBigUInt64LE(offsetOf(CT_ENTRY, "packets")),
    sourceIdentity: b.readUInt32LE(offsetOf(CT_ENTRY, "src_identity")),
    proxyPort: b.readUInt16LE(offsetOf(CT_ENTRY, "proxy_port")),
    seenReply: (b.readUInt8(offsetOf(CT_ENTRY, "flags")) & 0x01) !== 0,
  };
}
