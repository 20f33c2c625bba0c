/**
 * OverlappingTLSConfig (Gateway API, ListenerConditionOverlappingTLSConfig):
 * implementations MUST detect HTTPS/TLS listeners on one port whose
 * hostnames overlap (`foo.example.com` and `*.example.com`; a listener with
 * no hostname overlaps every other), because HTTP/2 connection coalescing
 * can then send a request for one hostname over a connection made for the
 * other. Both listeners get the condition, True with reason
 * OverlappingHostnames; it is negative polarity, so it is absent otherwise.
 * Only listeners that serve count: a rejected one has no TLS configuration.
 */
import { cond } from "./conditions.ts";
import { intersectHostnames } from "./hostname.ts";
import type { ListenerState } from "./listeners.ts";

const TLS_PROTOCOLS = new Set(["HTTPS", "TLS"]);

function overlap(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return true;
  return intersectHostnames(a, b) !== undefined;
}

function describe(l: ListenerState): string {
  const owner = l.owner.kind === "Gateway" ? "" : ` of ListenerSet ${l.owner.namespace}/${l.owner.name}`;
  return `listener ${l.name}${owner} (${l.hostname ?? "any hostname"})`;
}

/** The listeners with OverlappingTLSConfig added where it applies (the others unchanged). */
export function markOverlappingTls(listeners: readonly ListenerState[]): ListenerState[] {
  const serving = listeners.filter((l) => l.programmed && TLS_PROTOCOLS.has(l.protocol));
  const peers = new Map<ListenerState, ListenerState[]>();
  for (const [i, a] of serving.entries()) {
    for (const b of serving.slice(i + 1)) {
      if (a.port !== b.port || !overlap(a.hostname, b.hostname)) continue;
      peers.set(a, [...(peers.get(a) ?? []), b]);
      peers.set(b, [...(peers.get(b) ?? []), a]);
    }
  }
  return listeners.map((l) => {
    const others = peers.get(l);
    if (others === undefined) return l;
    return {
      ...l,
      conditions: [
        ...l.conditions,
        cond(
          "OverlappingTLSConfig",
          true,
          "OverlappingHostnames",
          `hostname ${l.hostname ?? "(any)"} on port ${l.port} overlaps with ${others.map(describe).join(", ")}`,
        ),
      ],
    };
  });
}
