/**
 * Hostnames as the Gateway API defines them: a listener hostname and a route
 * hostname intersect when one equals the other or a wildcard (`*.example.com`)
 * on one side covers the other side (the wildcard stands for one or more
 * labels). The intersection is the more specific of the two.
 */

export function isWildcard(hostname: string): boolean {
  return hostname.startsWith("*.");
}

/** Does the wildcard `*.suffix` cover `host` (a name or a narrower wildcard)? */
function covers(wildcard: string, host: string): boolean {
  const suffix = wildcard.slice(1); // ".example.com"
  return host.endsWith(suffix) && host.length > suffix.length && host !== wildcard;
}

/**
 * The intersection of a listener hostname and a route hostname, or undefined.
 * An absent listener hostname matches every route hostname.
 */
export function intersectHostnames(listener: string | undefined, route: string): string | undefined {
  if (listener === undefined || listener === "") return route;
  if (listener === route) return route;
  if (isWildcard(listener) && covers(listener, route)) return route;
  if (isWildcard(route) && covers(route, listener)) return listener;
  return undefined;
}

/**
 * Hostnames a route serves through a listener: the intersections of its
 * hostnames with the listener's, the listener's hostname (or `*`) when the
 * route has none, or [] when nothing intersects.
 */
export function routeHostnames(listener: string | undefined, route: readonly string[]): string[] {
  if (route.length === 0) return [listener === undefined || listener === "" ? "*" : listener];
  const out = new Set<string>();
  for (const h of route) {
    const i = intersectHostnames(listener, h);
    if (i !== undefined) out.add(i);
  }
  return [...out];
}

/**
 * Specificity of a listener hostname for a domain: higher wins. An exact name
 * beats any wildcard, a longer wildcard beats a shorter one, and no hostname
 * is the least specific; -1 when the listener does not serve the domain.
 */
export function listenerSpecificity(listener: string | undefined, domain: string): number {
  if (listener === undefined || listener === "") return 0;
  if (listener === domain) return 1_000_000;
  if (isWildcard(listener) && (covers(listener, domain) || listener === domain)) return listener.length;
  return -1;
}
