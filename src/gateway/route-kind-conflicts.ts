/**
 * HTTPRoute against GRPCRoute on one listener. The spec (GRPCRoute
 * `hostnames`): when a route of one kind attaches to a listener that already
 * has a route of the other kind, and their hostnames intersect, exactly one
 * of the two is accepted there: the oldest, then the first by
 * `namespace/name`. The other gets Accepted=False for that parent. Routes of
 * the two kinds are never merged into one virtual host's precedence.
 */
import { intersectHostnames } from "./hostname.ts";
import type { TranslatedHttpRoute } from "./httproute.ts";
import type { ListenerState } from "./listeners.ts";
import type { AttachedRoute } from "./route-tables.ts";

export interface KindConflict {
  /** Listeners on which the route lost. */
  readonly listeners: Set<ListenerState>;
  /** The route that won (the first one found). */
  readonly winner: TranslatedHttpRoute;
}

function older(a: TranslatedHttpRoute, b: TranslatedHttpRoute): boolean {
  if (a.creationTimestamp !== b.creationTimestamp) return a.creationTimestamp < b.creationTimestamp;
  return `${a.namespace}/${a.name}` < `${b.namespace}/${b.name}`;
}

function intersect(a: readonly string[], b: readonly string[]): boolean {
  return a.some((x) => b.some((y) => x === "*" || y === "*" || intersectHostnames(x, y) !== undefined));
}

/** The routes that lose a kind conflict, with the listeners where they lose. */
export function kindConflicts(routes: readonly AttachedRoute[]): Map<TranslatedHttpRoute, KindConflict> {
  const losers = new Map<TranslatedHttpRoute, KindConflict>();
  const grpc = routes.filter((r) => r.route.ref.kind === "GRPCRoute");
  if (grpc.length === 0) return losers;
  const http = routes.filter((r) => r.route.ref.kind === "HTTPRoute");
  for (const g of grpc) {
    for (const h of http) {
      if (g.attachment.listener !== h.attachment.listener) continue;
      if (!intersect(g.attachment.hostnames, h.attachment.hostnames)) continue;
      const [winner, loser] = older(g.route, h.route) ? [g.route, h.route] : [h.route, g.route];
      const entry = losers.get(loser) ?? { listeners: new Set<ListenerState>(), winner };
      entry.listeners.add(g.attachment.listener);
      losers.set(loser, entry);
    }
  }
  return losers;
}
