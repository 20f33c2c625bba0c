/** Codec of the ipcache (LPM trie): mirrors `struct ipcache_key` and `struct ipcache_info` (bpf/lib/ipcache.h). */
import { type Ipv4Octets, type Ipv4Prefix, readIpv4, writeIpv4 } from "../../net/ipv4.ts";
import { layout, offsetOf } from "./layout.ts";

export const IPCACHE_KEY = layout("ipcache_key", [
  ["prefixlen", 4],
  ["addr", 4],
]);
export const IPCACHE_INFO = layout("ipcache_info", [
  ["identity", 4],
  ["node", 4],
]);

export interface IpcacheInfo {
  readonly identity: number;
  /** The node's address, or undefined for this node / none. */
  readonly node?: Ipv4Octets;
}

const PREFIXLEN_AT = offsetOf(IPCACHE_KEY, "prefixlen");
const ADDR_AT = offsetOf(IPCACHE_KEY, "addr");
const IDENTITY_AT = offsetOf(IPCACHE_INFO, "identity");
const NODE_AT = offsetOf(IPCACHE_INFO, "node");

/** Into `b` when given (zeroed, IPCACHE_KEY.size bytes), else a new buffer. */
export function encodeIpcacheKey(prefix: Ipv4Prefix, b: Buffer = Buffer.alloc(IPCACHE_KEY.size)): Buffer {
  b.writeUInt32LE(prefix.length, PREFIXLEN_AT);
  writeIpv4(b, ADDR_AT, prefix.octets);
  return b;
}

export function decodeIpcacheKey(b: Buffer): string {
  return `${readIpv4(b, offsetOf(IPCACHE_KEY, "addr"))}/${b.readUInt32LE(offsetOf(IPCACHE_KEY, "prefixlen"))}`;
}

export function encodeIpcacheInfo(info: IpcacheInfo, b: Buffer = Buffer.alloc(IPCACHE_INFO.size)): Buffer {
  b.writeUInt32LE(info.identity, IDENTITY_AT);
  if (info.node !== undefined) writeIpv4(b, NODE_AT, info.node);
  return b;
}
