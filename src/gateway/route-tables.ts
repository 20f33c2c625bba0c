/**
 * Assembling a Gateway's ports and route tables from its listeners and the
 * routes attached to them.
 *
 * Listener isolation: a request is matched only against the routes of the
 * most specific listener whose hostname matches its Host. Each domain in a
 * route table is therefore owned by one listener, and a listener hostname
 * always gets a virtual host (empty if no route attaches), so a Host it owns
 * can never fall through to a less specific listener's routes.
 *
 * Host precedence between routes: a virtual host for a domain holds the
 * routes written for that domain first, then, for requests none of those
 * match, the routes of the wildcard domains that cover it (longest first) and
 * of `*`, from the same listener.
 */
import type {
  GatewayPort,
  RedirectAction,
  Route,
  RouteAction,
  RouteTable,
  TlsChain,
  VirtualHost,
} from "../model/gateway.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import { isWildcard } from "./hostname.ts";
import type { TranslatedHttpRoute, TranslatedRule } from "./httproute.ts";
import { listenerId, owningListener as owner } from "./listener-ownership.ts";
import type { ListenerState } from "./listeners.ts";
import type { Attachment } from "./route-attachment.ts";
import { comparePrecedence, type RankedMatch } from "./route-precedence.ts";
import { buildTcpChains, type TlsRouteOnListener } from "./tls-chains.ts";

export interface AttachedRoute {
  readonly route: TranslatedHttpRoute;
  readonly attachment: Attachment;
}

export type AttachedTlsRoute = TlsRouteOnListener;

export interface GatewayTablesInput {
  readonly namespace: string;
  readonly name: string;
  readonly ref: ResourceRef;
  readonly address: string;
  readonly listeners: readonly ListenerState[];
  readonly routes: readonly AttachedRoute[];
  readonly tlsRoutes: readonly AttachedTlsRoute[];
  /**
   * The cluster this Gateway uses for a backend cluster: the same, or a variant
   * (TLS backends of a Gateway that presents a client certificate).
   */
  readonly clusterFor?: (cluster: string) => string | undefined;
}

interface Candidate {
  readonly ranked: RankedMatch;
  readonly route: TranslatedHttpRoute;
  readonly rule: TranslatedRule;
}

/** What a route's actions need of the listener it is served on (a redirect's scheme and port). */
type ListenerPort = Pick<ListenerState, "protocol" | "port">;

const DEFAULT_PORT: Readonly<Record<string, number>> = { http: 80, https: 443 };

/** Redirect with the port resolved as the spec says (explicit, else the scheme's, else the listener's). */
function redirectAction(rule: TranslatedRule, listener: ListenerPort): RedirectAction | undefined {
  const r = rule.redirect;
  if (r === undefined) return undefined;
  const scheme = r.scheme ?? (listener.protocol === "HTTPS" ? "https" : "http");
  const port = r.port ?? (r.scheme !== undefined ? (DEFAULT_PORT[r.scheme] ?? listener.port) : listener.port);
  return {
    kind: "redirect",
    scheme,
    ...(r.hostname === undefined ? {} : { hostname: r.hostname }),
    // 0: the scheme's default port, which the Location leaves out.
    port: DEFAULT_PORT[scheme] === port ? 0 : port,
    ...(r.path === undefined
      ? {}
      : {
          path:
            r.path.type === "ReplaceFullPath"
              ? r.path
              : { type: "ReplacePrefixMatch", prefix: "", value: r.path.value },
        }),
    statusCode: r.statusCode,
  };
}

function actionFor(
  rule: TranslatedRule,
  listener: ListenerPort,
  prefix: string | undefined,
  clusterFor: (c: string) => string | undefined,
): RouteAction {
  const redirect = redirectAction(rule, listener);
  if (redirect !== undefined) {
    if (redirect.path?.type === "ReplacePrefixMatch")
      return { ...redirect, path: { ...redirect.path, prefix: prefix ?? "/" } };
    return redirect;
  }
  if (rule.directStatus !== undefined) return { kind: "direct", status: rule.directStatus };
  const pathRewrite =
    rule.pathRewrite === undefined
      ? undefined
      : rule.pathRewrite.type === "ReplaceFullPath"
        ? rule.pathRewrite
        : { type: "ReplacePrefixMatch" as const, prefix: prefix ?? "/", value: rule.pathRewrite.value };
  return {
    kind: "forward",
    // A cluster this Gateway may not use (undefined) keeps its weight: its share gets HTTP 500.
    backends: rule.backends.map((b) => {
      if (b.cluster === undefined) return b;
      const cluster = clusterFor(b.cluster);
      if (cluster !== undefined) return { ...b, cluster };
      const { cluster: _unusable, ...rest } = b;
      return rest;
    }),
    ...(rule.hostRewrite === undefined ? {} : { hostRewrite: rule.hostRewrite }),
    ...(pathRewrite === undefined ? {} : { pathRewrite }),
    mirrors: rule.mirrors.flatMap((m) => {
      const cluster = clusterFor(m.cluster);
      return cluster === undefined ? [] : [{ ...m, cluster }];
    }),
    ...(rule.requestTimeout === undefined ? {} : { requestTimeout: rule.requestTimeout }),
    ...(rule.backendTimeout === undefined ? {} : { backendTimeout: rule.backendTimeout }),
    ...(rule.retry === undefined ? {} : { retry: rule.retry }),
    websocket: false,
  };
}

function toRoutes(
  candidates: readonly Candidate[],
  listener: ListenerPort,
  clusterFor: (c: string) => string | undefined,
): Route[] {
  return [...candidates]
    .sort((a, b) => comparePrecedence(a.ranked, b.ranked))
    .map(({ ranked, route, rule }) => {
      const prefix = ranked.match.path.type === "PathPrefix" ? ranked.match.path.value : undefined;
      return {
        name: `${route.namespace}/${route.name}/${rule.name ?? `rule-${rule.index}`}/match-${ranked.matchIndex}`,
        match: ranked.match,
        action: actionFor(rule, listener, prefix, clusterFor),
        requestHeaders: rule.requestHeaders,
        responseHeaders: rule.responseHeaders,
        ...(rule.cors === undefined ? {} : { cors: rule.cors }),
        sources: [route.ref],
      };
    });
}

/** Domains covering `domain`, most specific first: longer wildcards, then `*`. */
function coveringDomains(domain: string, domains: Iterable<string>): string[] {
  return [...domains]
    .filter(
      (d) =>
        d !== domain &&
        (d === "*" || (isWildcard(d) && domain.endsWith(d.slice(1)) && domain.length > d.length - 1)),
    )
    .sort((a, b) => (a === "*" ? 1 : b === "*" ? -1 : b.length - a.length));
}

/** Every match of every rule of the routes, ranked for precedence. */
function candidatesOf(routes: readonly TranslatedHttpRoute[]): Candidate[] {
  const out: Candidate[] = [];
  for (const route of routes) {
    for (const rule of route.rules) {
      rule.matches.forEach((match, matchIndex) => {
        out.push({
          ranked: {
            match,
            creationTimestamp: route.creationTimestamp,
            namespace: route.namespace,
            name: route.name,
            ruleIndex: rule.index,
            matchIndex,
            ...(rule.grpc?.[matchIndex] === undefined ? {} : { grpc: rule.grpc[matchIndex] }),
          },
          route,
          rule,
        });
      });
    }
  }
  return out;
}

/**
 * The route table of a mesh Service port (GAMMA): one virtual host `*`,
 * because mesh traffic is chosen by the Service's ClusterIP and port, not by
 * Host (a route's hostnames do not narrow it, MeshFrontendHostname), holding
 * the routes in the same precedence as on a Gateway listener. Redirects
 * default to plain HTTP and the Service port.
 */
export function buildMeshRouteTable(
  name: string,
  port: number,
  routes: readonly TranslatedHttpRoute[],
  clusterFor: (c: string) => string | undefined = (c) => c,
): RouteTable {
  const listener: ListenerPort = { protocol: "HTTP", port };
  return {
    name,
    virtualHosts: [
      { name: `${name}/*`, domains: ["*"], routes: toRoutes(candidatesOf(routes), listener, clusterFor) },
    ],
    misdirectedDomains: [],
  };
}

function buildTable(
  name: string,
  listeners: readonly ListenerState[],
  routes: readonly AttachedRoute[],
  misdirected: readonly string[],
  clusterFor: (c: string) => string | undefined,
): RouteTable {
  // Per owning listener: domain → candidates.
  const byListener = new Map<ListenerState, Map<string, Candidate[]>>();
  for (const l of listeners) {
    const domains = new Map<string, Candidate[]>();
    if (l.hostname !== undefined) domains.set(l.hostname, []);
    byListener.set(l, domains);
  }
  for (const { route, attachment } of routes) {
    const domains = byListener.get(attachment.listener);
    if (domains === undefined) continue;
    for (const host of attachment.hostnames) {
      if (owner(host, listeners) !== attachment.listener) continue;
      let list = domains.get(host);
      if (list === undefined) {
        list = [];
        domains.set(host, list);
      }
      list.push(...candidatesOf([route]));
    }
  }
  const virtualHosts: VirtualHost[] = [];
  for (const [listener, domains] of byListener) {
    for (const [domain, candidates] of domains) {
      const routes = [...toRoutes(candidates, listener, clusterFor)];
      // A route written for both a name and a wildcard covering it already appears once.
      const seen = new Set(routes.map((r) => r.name));
      for (const wider of coveringDomains(domain, domains.keys())) {
        for (const r of toRoutes(domains.get(wider) ?? [], listener, clusterFor)) {
          if (seen.has(r.name)) continue;
          seen.add(r.name);
          routes.push(r);
        }
      }
      virtualHosts.push({ name: `${name}/${domain}`, domains: [domain], routes });
    }
  }
  virtualHosts.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { name, virtualHosts, misdirectedDomains: misdirected };
}

export function buildGatewayTables(input: GatewayTablesInput): {
  ports: GatewayPort[];
  tables: RouteTable[];
} {
  const ports: GatewayPort[] = [];
  const tables: RouteTable[] = [];
  const clusterFor = input.clusterFor ?? ((c: string) => c);
  const serving = input.listeners.filter((l) => l.programmed);
  const portNumbers = [...new Set(serving.map((l) => l.port))].sort((a, b) => a - b);
  for (const port of portNumbers) {
    const onPort = serving.filter((l) => l.port === port);
    // Listeners sharing a port have compatible protocols (listeners.ts): HTTP alone, or HTTPS and TLS.
    const protocol = onPort.some((l) => l.protocol === "HTTPS")
      ? "HTTPS"
      : onPort.some((l) => l.protocol === "TLS")
        ? "TLS"
        : "HTTP";
    const base = `${input.namespace}/${input.name}`;
    const routes = input.routes.filter((r) => r.attachment.listener.port === port);
    if (protocol === "HTTP") {
      const table = buildTable(`${base}/${port}`, onPort, routes, [], clusterFor);
      tables.push(table);
      ports.push({
        name: `${base}/${port}`,
        address: input.address,
        port,
        protocol,
        routeTable: table.name,
        tlsChains: [],
        tcpChains: [],
        sources: [input.ref],
      });
      continue;
    }
    const chains: TlsChain[] = [];
    for (const listener of onPort) {
      if (listener.protocol !== "HTTPS") continue;
      // Misdirected requests: the SNI chose this listener but the Host belongs to another listener of
      // the port (its hostname; for a listener with a hostname, also anything outside it): 421.
      const others = onPort
        .filter((l) => l !== listener && l.hostname !== undefined)
        .map((l) => l.hostname as string);
      const misdirected =
        listener.hostname === undefined
          ? others
          : [...others.filter((h) => owner(h, onPort) !== listener), "*"];
      const own = buildTable(
        `${base}/${listenerId(listener)}`,
        [listener],
        routes.filter((r) => r.attachment.listener === listener),
        misdirected,
        clusterFor,
      );
      // A host this listener's routes name but another listener of the port owns is misdirected too.
      const table: RouteTable = {
        ...own,
        virtualHosts: own.virtualHosts.filter((vh) =>
          vh.domains.every((d) =>
            d === "*" ? listener.hostname === undefined : owner(d, onPort) === listener,
          ),
        ),
      };
      tables.push(table);
      chains.push({
        name: `${base}/${listenerId(listener)}`,
        serverNames: listener.hostname === undefined ? [] : [listener.hostname],
        certificates: listener.certificates.map((c) => c.name),
        routeTable: table.name,
        ...(listener.clientValidation === undefined
          ? {}
          : {
              clientValidation: {
                caBundle: listener.clientValidation.caBundle,
                optional: listener.clientValidation.optional,
              },
            }),
        sources: [input.ref, ...listener.certificates.map((c) => c.source)],
      });
    }
    ports.push({
      name: `${base}/${port}`,
      address: input.address,
      port,
      protocol,
      tlsChains: chains,
      tcpChains: buildTcpChains(
        `${base}`,
        onPort,
        input.tlsRoutes.filter((r) => r.attachment.listener.port === port),
      ),
      sources: [input.ref],
    });
  }
  return { ports, tables };
}
