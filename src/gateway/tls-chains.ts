/**
 * TLSRoutes on a port's TLS listeners → TCP chains chosen by SNI.
 *
 * Each SNI name goes to one route, so Envoy never sees two chains with the
 * same server name (it would refuse the listener):
 * - a name belongs to the most specific listener of the port whose hostname
 *   matches it (listener isolation, as for HTTP), so a route on a wildcard
 *   listener does not take a name another listener owns;
 * - between routes claiming the same name, the oldest wins, then the first
 *   by namespace and name (the Gateway API's conflict order for routes).
 * Envoy then picks a chain by SNI exactly as the spec asks for: an exact name
 * before a wildcard, a longer wildcard before a shorter one, and a chain
 * without names (a route for `*`) last. An SNI no chain serves has its
 * connection closed.
 */
import type { TcpChain } from "../model/gateway.ts";
import { listenerId, owningListener } from "./listener-ownership.ts";
import type { ListenerState } from "./listeners.ts";
import type { Attachment } from "./route-attachment.ts";
import type { TranslatedTlsRoute } from "./tlsroute.ts";

export interface TlsRouteOnListener {
  readonly route: TranslatedTlsRoute;
  readonly attachment: Attachment;
}

function byAgeThenName(a: TlsRouteOnListener, b: TlsRouteOnListener): number {
  const x = a.route;
  const y = b.route;
  if (x.creationTimestamp !== y.creationTimestamp) return x.creationTimestamp < y.creationTimestamp ? -1 : 1;
  const kx = `${x.namespace}/${x.name}`;
  const ky = `${y.namespace}/${y.name}`;
  return kx < ky ? -1 : kx > ky ? 1 : 0;
}

/**
 * `base` is `namespace/gateway`; `listeners` are the port's programmed
 * listeners (HTTPS ones own names too); `routes` the TLSRoutes attached to
 * the port's TLS listeners.
 */
export function buildTcpChains(
  base: string,
  listeners: readonly ListenerState[],
  routes: readonly TlsRouteOnListener[],
): TcpChain[] {
  const claimed = new Set<string>();
  const won = new Map<TlsRouteOnListener, string[]>();
  for (const entry of [...routes].sort(byAgeThenName)) {
    const { route, attachment } = entry;
    const rule = route.rules[0];
    if (rule === undefined || attachment.listener.protocol !== "TLS") continue;
    for (const host of attachment.hostnames) {
      if (owningListener(host, listeners) !== attachment.listener || claimed.has(host)) continue;
      claimed.add(host);
      const names = won.get(entry) ?? [];
      names.push(host);
      won.set(entry, names);
    }
  }
  const chains: TcpChain[] = [];
  for (const [{ route, attachment }, names] of won) {
    const listener = attachment.listener;
    const rule = route.rules[0];
    if (rule === undefined) continue;
    chains.push({
      name: `${base}/${listenerId(listener)}/${route.namespace}/${route.name}`,
      // `*` (a route without hostnames on a listener without one) is the chain for any SNI.
      serverNames: names.includes("*") ? [] : names.sort(),
      mode: listener.tlsMode ?? "Passthrough",
      certificates: listener.tlsMode === "Terminate" ? listener.certificates.map((c) => c.name) : [],
      backends: rule.backends,
      sources: [route.ref, ...listener.certificates.map((c) => c.source)],
    });
  }
  return chains.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
