/**
 * skb->mark values shared by the datapath (bpf/lib/common.h), the node's
 * TPROXY rules and the Envoy configuration: Cilium's ABI, plus the mark of the
 * proxy's replies on redirected connections.
 */
export const MARK = {
  MAGIC_MASK: 0x0f00,
  /** 0x0200 | (be16(proxy port) << 16): the datapath's mark for a flow the node's proxy takes. */
  TO_PROXY: 0x0200,
  /** 0x0A00 | (identity << 16): the proxy's upstream connections (SO_MARK via original_src). */
  FROM_PROXY: 0x0a00,
  /**
   * The proxy's side of a redirected connection (SO_MARK on its transparent
   * listeners, inherited by every accepted socket): the node's raw OUTPUT rule
   * leaves these packets untracked, as the raw PREROUTING rule leaves the
   * client's, so conntrack never holds half of a redirected flow.
   */
  PROXY_REPLY: 0x0b00,
  /**
   * 0x0E00 | (identity << 16): the destination node Envoy's connection to a
   * pod for a flow that came through the encrypted tunnel, whose client SVID
   * proved `identity` (SO_MARK on the delivering cluster): the datapath takes
   * the identity and counts the flow as authenticated.
   */
  FROM_PROXY_AUTH: 0x0e00,
} as const;

/** The from-proxy-authenticated mark of `identity` (identities fit 16 bits, as Cilium's marks). */
export function fromProxyAuthenticatedMark(identity: number): number {
  return (MARK.FROM_PROXY_AUTH | ((identity & 0xffff) << 16)) >>> 0;
}
