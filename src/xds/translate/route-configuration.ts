/**
 * Route tables → RouteConfigurations, one per HTTP port or HTTPS listener,
 * with a virtual host per domain. The port in the Host header is ignored for
 * virtual host selection (but kept in the header the backend sees), so
 * `Host: example.com:8080` reaches the `example.com` virtual host.
 */
import type { Exclusion } from "../../model/exclusion.ts";
import type { Route, RouteTable, VirtualHost } from "../../model/gateway.ts";
import type {
  envoy_config_route_v3_Route as EnvoyRoute,
  envoy_config_route_v3_VirtualHost as EnvoyVirtualHost,
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
} from "../proto/envoy-types.ts";
import { buildRoute } from "./route.ts";
import { PART_TYPES, PartChecker, strictProblem } from "./strict-check.ts";

/** A model route's Envoy route and its strict-encoding problem, kept while the model route is the same object. */
const builtRoutes = new WeakMap<Route, { readonly json: EnvoyRoute; readonly problem: string | undefined }>();

function checkedRoute(route: Route): { readonly json: EnvoyRoute; readonly problem: string | undefined } {
  let built = builtRoutes.get(route);
  if (built === undefined) {
    const json = buildRoute(route);
    built = { json, problem: strictProblem(PART_TYPES.route, json) };
    builtRoutes.set(route, built);
  }
  return built;
}

function virtualHostSources(vh: VirtualHost) {
  return vh.routes.flatMap((r) => r.sources);
}

/**
 * The table's RouteConfiguration, and the parts left out of it: a route that
 * does not encode is left out alone, a virtual host whose own fields do not
 * encode is left out with its routes; every other route is served.
 */
export function buildRouteConfiguration(table: RouteTable): {
  readonly json: RouteConfiguration;
  readonly excluded: readonly Exclusion[];
} {
  const checker = new PartChecker("route", table.name);
  const own = new Set(table.virtualHosts.flatMap((v) => v.domains));
  const misdirected = table.misdirectedDomains.filter((d) => !own.has(d));
  const virtualHosts: EnvoyVirtualHost[] = [];
  for (const vh of table.virtualHosts) {
    const shell: EnvoyVirtualHost = { name: vh.name, domains: [...vh.domains], routes: [] };
    if (!checker.accept("virtualHost", PART_TYPES.virtualHost, vh.name, shell, virtualHostSources(vh)))
      continue;
    const routes: EnvoyRoute[] = [];
    for (const route of vh.routes) {
      const built = checkedRoute(route);
      if (built.problem === undefined) routes.push(built.json);
      else checker.exclude("route", route.name, built.problem, route.sources);
    }
    virtualHosts.push({ ...shell, routes });
  }
  if (misdirected.length > 0) {
    // Hosts of the port's other TLS listeners, reached through this listener's SNI: 421 Misdirected Request.
    virtualHosts.push({
      name: `${table.name}/misdirected`,
      domains: [...misdirected].sort(),
      routes: [
        { name: `${table.name}/misdirected`, match: { prefix: "/" }, direct_response: { status: 421 } },
      ],
    });
  }
  return {
    json: { name: table.name, virtual_hosts: virtualHosts, ignore_port_in_host_matching: true },
    excluded: checker.excluded,
  };
}
