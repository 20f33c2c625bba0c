/**
 * The filters of `strait observe` (`--from`, `--to`, `--verdict`, `--port`, `--protocol`),
 * as a pure predicate over flows. A peer matches by IP, by pod
 * (`namespace/name`), or by identity (`identity:1001` or `ID:1001`).
 */
import type { Flow, FlowPeer } from "./flows.ts";

export interface FlowFilter {
  readonly from?: readonly string[];
  readonly to?: readonly string[];
  readonly verdict?: readonly string[];
  readonly port?: readonly number[];
  /** `http`: the proxy's L7 records only; `l3-l4`: the datapath's only. */
  readonly protocol?: "http" | "l3-l4";
}

function peerMatches(peer: FlowPeer, wanted: string): boolean {
  const id = /^(?:identity|ID):(\d+)$/i.exec(wanted);
  if (id !== null) return peer.identity === Number(id[1]);
  return peer.ip === wanted || peer.pod === wanted;
}

export function matchesFlow(flow: Flow, filter: FlowFilter): boolean {
  if (
    filter.from !== undefined &&
    filter.from.length > 0 &&
    !filter.from.some((w) => peerMatches(flow.source, w))
  ) {
    return false;
  }
  if (
    filter.to !== undefined &&
    filter.to.length > 0 &&
    !filter.to.some((w) => peerMatches(flow.destination, w))
  ) {
    return false;
  }
  if (filter.verdict !== undefined && filter.verdict.length > 0) {
    if (!filter.verdict.some((v) => v.toUpperCase() === flow.verdict)) return false;
  }
  if (filter.port !== undefined && filter.port.length > 0) {
    if (!filter.port.some((p) => p === flow.source.port || p === flow.destination.port)) return false;
  }
  if (filter.protocol === "http" && flow.l7 === undefined) return false;
  if (filter.protocol === "l3-l4" && flow.l7 !== undefined) return false;
  return true;
}
