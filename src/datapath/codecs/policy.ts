/**
 * Codec of the policy map: mirrors `struct policy_key` and `struct
 * policy_entry` (bpf/lib/policy.h), and turns the model's PolicyEntry into
 * map keys (wildcards as zeros).
 */
import type { AuthType, PolicyEntry } from "../../model/endpoint-policy.ts";
import { DIR } from "../reasons.ts";
import { layout, offsetOf } from "./layout.ts";

export const POLICY_KEY = layout("policy_key", [
  ["identity", 4],
  ["endpoint_id", 2],
  ["direction", 1],
  ["protocol", 1],
  ["dport", 2],
  ["pad", 2],
]);
export const POLICY_ENTRY = layout("policy_entry", [
  ["flags", 1],
  ["auth_type", 1],
  ["proxy_port", 2],
]);

export const POLICY_FLAGS = { DENY: 0x01 } as const;
export const AUTH_TYPES: Readonly<Record<AuthType, number>> = {
  none: 0,
  "mtls-spiffe": 1,
  "always-fail": 2,
  "mtls-spiffe-encrypted": 3,
};
export const IPPROTO = { ANY: 0, ICMP: 1, TCP: 6, UDP: 17, SCTP: 132 } as const;

export interface PolicyKey {
  readonly endpointId: number;
  readonly direction: number;
  /** 0 = any. */
  readonly identity: number;
  /** IPPROTO_*; 0 = any. */
  readonly protocol: number;
  /** Host order; 0 = any. */
  readonly port: number;
}

export interface PolicyValue {
  readonly deny: boolean;
  readonly authType: number;
  readonly proxyPort: number;
}

/** The map key of a model entry: ICMP and ANY have no ports, "any" is 0. */
export function policyKeyOf(endpointId: number, entry: PolicyEntry): PolicyKey {
  const protocol = IPPROTO[entry.protocol];
  const portless = entry.protocol === "ANY" || entry.protocol === "ICMP";
  return {
    endpointId,
    direction: entry.direction === "ingress" ? DIR.INGRESS : DIR.EGRESS,
    identity: entry.remoteIdentity === "any" ? 0 : entry.remoteIdentity,
    protocol,
    port: portless || entry.port === "any" ? 0 : entry.port,
  };
}

export function policyValueOf(entry: PolicyEntry): PolicyValue {
  return {
    deny: entry.verdict === "deny",
    authType: AUTH_TYPES[entry.auth ?? "none"],
    proxyPort: entry.verdict === "deny" ? 0 : (entry.proxyPort ?? 0),
  };
}

/** Looked up once: every desired-state write encodes up to several 100,000 keys. */
const KEY_AT = {
  identity: offsetOf(POLICY_KEY, "identity"),
  endpointId: offsetOf(POLICY_KEY, "endpoint_id"),
  direction: offsetOf(POLICY_KEY, "direction"),
  protocol: offsetOf(POLICY_KEY, "protocol"),
  dport: offsetOf(POLICY_KEY, "dport"),
} as const;

/** Into `b` when given (zeroed, POLICY_KEY.size bytes: the content builders reuse one), else a new buffer. */
export function encodePolicyKey(k: PolicyKey, b: Buffer = Buffer.alloc(POLICY_KEY.size)): Buffer {
  b.writeUInt32LE(k.identity, KEY_AT.identity);
  b.writeUInt16LE(k.endpointId, KEY_AT.endpointId);
  b.writeUInt8(k.direction, KEY_AT.direction);
  b.writeUInt8(k.protocol, KEY_AT.protocol);
  b.writeUInt16BE(k.port, KEY_AT.dport);
  return b;
}

export function decodePolicyKey(b: Buffer): PolicyKey {
  return {
    identity: b.readUInt32LE(offsetOf(POLICY_KEY, "identity")),
    endpointId: b.readUInt16LE(offsetOf(POLICY_KEY, "endpoint_id")),
    direction: b.readUInt8(offsetOf(POLICY_KEY, "direction")),
    protocol: b.readUInt8(offsetOf(POLICY_KEY, "protocol")),
    port: b.readUInt16BE(offsetOf(POLICY_KEY, "dport")),
  };
}

export function encodePolicyValue(v: PolicyValue, b: Buffer = Buffer.alloc(POLICY_ENTRY.size)): Buffer {
  b.writeUInt8(v.deny ? POLICY_FLAGS.DENY : 0, offsetOf(POLICY_ENTRY, "flags"));
  b.writeUInt8(v.authType, offsetOf(POLICY_ENTRY, "auth_type"));
  b.writeUInt16LE(v.proxyPort, offsetOf(POLICY_ENTRY, "proxy_port"));
  return b;
}
