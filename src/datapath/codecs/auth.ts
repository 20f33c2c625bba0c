/** Codec of the auth map: mirrors `struct auth_key` and `struct auth_info` (bpf/lib/auth.h). */
import { type Ipv4Octets, readIpv4, writeIpv4 } from "../../net/ipv4.ts";
import { layout, offsetOf } from "./layout.ts";

export const AUTH_KEY = layout("auth_key", [
  ["local_identity", 4],
  ["remote_identity", 4],
  ["remote_node", 4],
  ["auth_type", 1],
  ["pad", 3],
]);
export const AUTH_INFO = layout("auth_info", [["expires", 8]]);

export interface AuthKey {
  readonly localIdentity: number;
  readonly remoteIdentity: number;
  /** The peer's node; undefined for this node. */
  readonly remoteNode?: Ipv4Octets;
  readonly authType: number;
}

export function encodeAuthKey(k: AuthKey): Buffer {
  const b = Buffer.alloc(AUTH_KEY.size);
  b.writeUInt32LE(k.localIdentity, offsetOf(AUTH_KEY, "local_identity"));
  b.writeUInt32LE(k.remoteIdentity, offsetOf(AUTH_KEY, "remote_identity"));
  if (k.remoteNode !== undefined) writeIpv4(b, offsetOf(AUTH_KEY, "remote_node"), k.remoteNode);
  b.writeUInt8(k.authType, offsetOf(AUTH_KEY, "auth_type"));
  return b;
}

export function decodeAuthKeyNode(b: Buffer): string {
  return readIpv4(b, offsetOf(AUTH_KEY, "remote_node"));
}

/** Expiry on CLOCK_BOOTTIME, the clock of bpf_ktime_get_boot_ns(). */
export function encodeAuthInfo(expiresBootNs: bigint): Buffer {
  const b = Buffer.alloc(AUTH_INFO.size);
  b.writeBigUInt64LE(expiresBootNs, offsetOf(AUTH_INFO, "expires"));
  return b;
}

export function decodeAuthKey(b: Buffer): AuthKey & { readonly remoteNodeText: string } {
  return {
    localIdentity: b.readUInt32LE(offsetOf(AUTH_KEY, "local_identity")),
    remoteIdentity: b.readUInt32LE(offsetOf(AUTH_KEY, "remote_identity")),
    remoteNodeText: readIpv4(b, offsetOf(AUTH_KEY, "remote_node")),
    authType: b.readUInt8(offsetOf(AUTH_KEY, "auth_type")),
  };
}

export function decodeAuthInfo(b: Buffer): bigint {
  return b.readBigUInt64LE(offsetOf(AUTH_INFO, "expires"));
}
