/**
 * Codec of the encrypt map: mirrors `struct encrypt_key` and `struct
 * encrypt_info` (bpf/lib/encrypt.h), and turns the model's EncryptEntry into
 * a map key ("any" port as zero).
 */
import type { EncryptEntry } from "../../model/encryption.ts";
import { layout, offsetOf } from "./layout.ts";
import { IPPROTO } from "./policy.ts";

export const ENCRYPT_KEY = layout("encrypt_key", [
  ["local_identity", 4],
  ["remote_identity", 4],
  ["dport", 2],
  ["protocol", 1],
  ["pad", 1],
]);
export const ENCRYPT_INFO = layout("encrypt_info", [
  ["proxy_port", 2],
  ["pad", 2],
]);

export interface EncryptKey {
  readonly localIdentity: number;
  readonly remoteIdentity: number;
  /** Host order; 0 = any. */
  readonly port: number;
  /** IPPROTO_*. */
  readonly protocol: number;
}

export function encodeEncryptKey(k: EncryptKey, into: Buffer = Buffer.alloc(ENCRYPT_KEY.size)): Buffer {
  into.writeUInt32LE(k.localIdentity, offsetOf(ENCRYPT_KEY, "local_identity"));
  into.writeUInt32LE(k.remoteIdentity, offsetOf(ENCRYPT_KEY, "remote_identity"));
  into.writeUInt16BE(k.port, offsetOf(ENCRYPT_KEY, "dport")); // network order, as the packet carries it
  into.writeUInt8(k.protocol, offsetOf(ENCRYPT_KEY, "protocol"));
  return into;
}

export function decodeEncryptKey(b: Buffer): EncryptKey {
  return {
    localIdentity: b.readUInt32LE(offsetOf(ENCRYPT_KEY, "local_identity")),
    remoteIdentity: b.readUInt32LE(offsetOf(ENCRYPT_KEY, "remote_identity")),
    port: b.readUInt16BE(offsetOf(ENCRYPT_KEY, "dport")),
    protocol: b.readUInt8(offsetOf(ENCRYPT_KEY, "protocol")),
  };
}

/** The proxy port in host order (the datapath turns it into the TPROXY mark). */
export function encodeEncryptInfo(proxyPort: number): Buffer {
  const b = Buffer.alloc(ENCRYPT_INFO.size);
  b.writeUInt16LE(proxyPort, offsetOf(ENCRYPT_INFO, "proxy_port"));
  return b;
}

export function decodeEncryptInfo(b: Buffer): number {
  return b.readUInt16LE(offsetOf(ENCRYPT_INFO, "proxy_port"));
}

/** The map key of a model encrypt entry. */
export function encryptKeyOf(e: EncryptEntry): EncryptKey {
  return {
    localIdentity: e.localIdentity,
    remoteIdentity: e.remoteIdentity,
    port: e.port === "any" ? 0 : e.port,
    protocol: IPPROTO[e.protocol],
  };
}
