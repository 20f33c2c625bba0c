/**
 * Which listener of a port owns a hostname: the most specific whose hostname
 * matches it (listener isolation), and a listener's name within its Gateway.
 */
import { listenerSpecificity } from "./hostname.ts";
import type { ListenerState } from "./listeners.ts";

/** A listener's name within its Gateway: ListenerSet listeners are qualified by their ListenerSet. */
export function listenerId(l: ListenerState): string {
  return l.owner.kind === "Gateway" ? l.name : `${l.owner.namespace}/${l.owner.name}/${l.name}`;
}

/** The listener among `listeners` that owns a domain: the most specific whose hostname matches it. */
export function owningListener(
  domain: string,
  listeners: readonly ListenerState[],
): ListenerState | undefined {
  let best: ListenerState | undefined;
  let bestScore = -1;
  for (const l of listeners) {
    const score =
      domain === "*" ? (l.hostname === undefined ? 0 : -1) : listenerSpecificity(l.hostname, domain);
    if (score > bestScore) {
      best = l;
      bestScore = score;
    }
  }
  return best;
}
