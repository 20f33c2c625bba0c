/**
 * Verdicts, drop reasons, event types and directions of the datapath: the
 * mirror of bpf/lib/reasons.h (reasons.test.ts keeps them in sync).
 */
import { fromProxyAuthenticatedMark, MARK } from "../model/proxy-marks.ts";

export const VERDICT = { FORWARDED: 0, DROPPED: 1, REDIRECTED: 2 } as const;
export const VERDICT_MAX = 3;

export const DROP = {
  NONE: 0,
  POLICY_DENIED: 1,
  POLICY_DEFAULT_DENY: 2,
  AUTH_REQUIRED: 3,
  INVALID_SOURCE: 4,
  UNKNOWN_ENDPOINT: 5,
  FRAGMENT: 6,
  INVALID_PACKET: 7,
  CT_CREATE_FAILED: 8,
  /**
   * The policy requires encryption (auth mtls-spiffe-encrypted) and the TCP
   * flow from another node did not come through the node Envoys' tunnel.
   */
  NOT_ENCRYPTED: 9,
} as const;
export const DROP_REASON_MAX = 16;

export const EVENT = { POLICY_VERDICT: 1, DROP: 2, AUTH_REQUIRED: 3 } as const;

export const DIR = { INGRESS: 0, EGRESS: 1 } as const;
export const DIR_MAX = 2;

export type VerdictName = "forwarded" | "dropped" | "redirected";

export const VERDICT_NAMES: Readonly<Record<number, VerdictName>> = {
  [VERDICT.FORWARDED]: "forwarded",
  [VERDICT.DROPPED]: "dropped",
  [VERDICT.REDIRECTED]: "redirected",
};

/** Human-readable drop reasons, as `strait observe` prints them. */
export const DROP_REASON_NAMES: Readonly<Record<number, string>> = {
  [DROP.NONE]: "",
  [DROP.POLICY_DENIED]: "policy denied",
  [DROP.POLICY_DEFAULT_DENY]: "policy denied (default deny)",
  [DROP.AUTH_REQUIRED]: "auth required",
  [DROP.INVALID_SOURCE]: "invalid source ip",
  [DROP.UNKNOWN_ENDPOINT]: "unknown endpoint",
  [DROP.FRAGMENT]: "fragmentation not supported",
  [DROP.INVALID_PACKET]: "invalid packet",
  [DROP.CT_CREATE_FAILED]: "ct entry could not be created",
  [DROP.NOT_ENCRYPTED]: "not encrypted",
};

export const EVENT_NAMES: Readonly<Record<number, string>> = {
  [EVENT.POLICY_VERDICT]: "policy-verdict",
  [EVENT.DROP]: "drop",
  [EVENT.AUTH_REQUIRED]: "auth-required",
};

/** skb->mark values (bpf/lib/common.h): Cilium's ABI, the proxy reply mark and the tunnel's authenticated mark. */
export { fromProxyAuthenticatedMark, MARK };

/** The mark the datapath puts on a packet for the proxy on `port`: 0x0200 | (be16(port) << 16). */
export function toProxyMark(port: number): number {
  const be16 = ((port & 0xff) << 8) | ((port >> 8) & 0xff);
  return (MARK.TO_PROXY | (be16 << 16)) >>> 0;
}

/** The mark a proxy sets (SO_MARK) on its upstream connection made for `identity`. */
export function fromProxyMark(identity: number): number {
  return (MARK.FROM_PROXY | ((identity & 0xffff) << 16)) >>> 0;
}
