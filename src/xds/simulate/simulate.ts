/**
 * The simulator: evaluates one request against one node's Envoy
 * configuration as Envoy would — listener, filter chain and TLS handshake,
 * a TCP proxy chain (TLSRoute: the connection goes to a cluster as it is), or
 * the HTTP connection manager (RDS), virtual host, route, CORS filter, then the
 * route's action (redirect, direct response, or forwarding with rewrites,
 * header mutations, mirrors, timeouts and retries) and the endpoint.
 */

import { MESH_PROXY_PORT } from "../../model/mesh-service.ts";
import type {
  envoy_config_listener_v3_FilterChain as FilterChain,
  envoy_extensions_filters_network_http_connection_manager_v3_HttpConnectionManager as HttpConnectionManager,
  envoy_config_route_v3_RouteAction as RouteAction,
  envoy_config_route_v3_RouteConfiguration as RouteConfiguration,
} from "../proto/envoy-types.ts";
import { unpackAny } from "../proto/pack-any.ts";
import { applyHeaderOps, headerOps, redirectLocation, redirectStatus, rewritePath } from "./actions.ts";
import { corsPolicyOf, evaluateCors } from "./cors.ts";
import { chooseFilterChain, findListener, findMeshListener, handshake } from "./listener-match.ts";
import type { NodeConfig } from "./node-config.ts";
import { selectRoute, selectVirtualHost } from "./route-match.ts";
import { proxyConnection, tcpProxyOf } from "./tcp-proxy.ts";
import type { HeaderList, Mirror, SimOptions, SimRequest, SimResult } from "./types.ts";
import { chooseCluster, clusterEndpoints, pickEndpoint, upstreamTls } from "./upstream.ts";

function connectionManager(chain: FilterChain): HttpConnectionManager | undefined {
  for (const f of chain.filters ?? []) {
    const hcm = unpackAny(
      f.typed_config,
      "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
    );
    if (hcm !== undefined) return hcm;
  }
  return undefined;
}

/**
 * Why the connection manager's codec refuses the client's HTTP version, or
 * undefined: AUTO takes both (by ALPN over TLS, by the HTTP/2 preface in
 * clear text); HTTP1 and HTTP2 only their own (Envoy closes the connection).
 */
function codecRefuses(hcm: HttpConnectionManager, http2: boolean): string | undefined {
  const codec = String(hcm.codec_type ?? "AUTO");
  if (http2 && (codec === "HTTP1" || codec === "1"))
    return "the connection manager's codec is HTTP1: it does not take an HTTP/2 connection";
  if (!http2 && (codec === "HTTP2" || codec === "2"))
    return "the connection manager's codec is HTTP2: it does not take an HTTP/1.1 connection";
  return undefined;
}

function upgradeAllowed(type: string, hcm: HttpConnectionManager, action: RouteAction): boolean {
  const find = (list: readonly { upgrade_type?: string; enabled?: boolean }[] | undefined) =>
    (list ?? []).find((u) => String(u.upgrade_type ?? "").toLowerCase() === type);
  const onRoute = find(action.upgrade_configs);
  if (onRoute !== undefined) return onRoute.enabled !== false;
  const onHcm = find(hcm.upgrade_configs);
  return onHcm !== undefined && onHcm.enabled !== false;
}

/**
 * `use_remote_address`: Envoy appends the client's address to
 * X-Forwarded-For and, for a client outside `internal_address_config`
 * (empty by default in Envoy 1.40: no address is internal), names it in
 * x-envoy-external-address; an internal client gets `x-envoy-internal: true`.
 */
function forwardedFor(
  hcm: HttpConnectionManager,
  request: SimRequest,
  headers: [string, string][],
): [string, string][] {
  const client = request.remoteAddress;
  if (hcm.use_remote_address !== true || client === undefined) return headers;
  const existing = headers.find(([n]) => n === "x-forwarded-for")?.[1];
  const out = headers.filter(
    ([n]) => n !== "x-forwarded-for" && n !== "x-envoy-external-address" && n !== "x-envoy-internal",
  );
  out.push(["x-forwarded-for", existing === undefined ? client : `${existing},${client}`]);
  const ranges = (hcm.internal_address_config?.cidr_ranges ?? []).map(
    (r) => `${String(r.address_prefix ?? "")}/${Number(r.prefix_len ?? 32)}`,
  );
  if (ranges.some((cidr) => inCidr(client, cidr))) out.push(["x-envoy-internal", "true"]);
  else out.push(["x-envoy-external-address", client]);
  return out;
}

function ipv4(address: string): number | undefined {
  const parts = address.split(".").map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return undefined;
  return parts.reduce((n, p) => n * 256 + p, 0);
}

function inCidr(address: string, cidr: string): boolean {
  const [prefix = "", bits = "32"] = cidr.split("/");
  const a = ipv4(address);
  const p = ipv4(prefix);
  if (a === undefined || p === undefined) return false;
  const size = 2 ** (32 - Number(bits));
  return Math.floor(a / size) === Math.floor(p / size);
}

/** Seconds of a protobuf JSON duration (`1.5s`) in milliseconds; undefined when not a duration. */
function durationMs(value: unknown): number | undefined {
  if (typeof value !== "string" || !/^\d+(\.\d+)?s$/.test(value)) return undefined;
  return Math.round(Number.parseFloat(value) * 1000);
}

/**
 * x-envoy-expected-rq-timeout-ms, the time the upstream is told it has: the
 * per-try timeout when one is set and shorter than the route's (or the
 * route's is disabled), else the route timeout; absent when both are off.
 */
function expectedTimeoutMs(routeTimeout: string, perTryTimeout: unknown): number | undefined {
  const global = durationMs(routeTimeout) ?? 0;
  const perTry = durationMs(perTryTimeout) ?? 0;
  if (perTry > 0 && (global === 0 || perTry < global)) return perTry;
  return global > 0 ? global : undefined;
}

/**
 * A mirrored request is sent by Envoy's own async client, which marks it
 * internal (`x-envoy-internal: true`) and appends Envoy's own address to
 * X-Forwarded-For (when the simulation knows it, `SimOptions.envoyAddress`).
 */
function shadowHeaders(headers: readonly [string, string][], options: SimOptions): [string, string][] {
  const out: [string, string][] = headers.filter(([n]) => n !== "x-envoy-internal").map(([n, v]) => [n, v]);
  const own = options.envoyAddress;
  if (own !== undefined) {
    const xff = out.findIndex(([n]) => n === "x-forwarded-for");
    if (xff === -1) out.push(["x-forwarded-for", own]);
    else out[xff] = ["x-forwarded-for", `${out[xff]?.[1]},${own}`];
  }
  out.push(["x-envoy-internal", "true"]);
  return out;
}

function local(status: number, reason: string, headers: HeaderList = [], body?: string) {
  return {
    kind: "local-response" as const,
    status,
    headers,
    reason,
    ...(body === undefined ? {} : { body }),
  };
}

export function simulate(config: NodeConfig, request: SimRequest, options: SimOptions = {}): SimResult {
  const trace: string[] = [];
  const random = {
    cluster: options.random?.cluster ?? 0,
    endpoint: options.random?.endpoint ?? 0,
    fraction: options.random?.fraction ?? 0,
  };

  const listener =
    request.via === "mesh" ? findMeshListener(config) : findListener(config, request.address, request.port);
  if (listener === undefined && request.via === "mesh") {
    return {
      outcome: {
        kind: "connection-failed",
        reason:
          "no mesh listener on the node: no ClusterIP Service is a mesh Service, the datapath redirects nothing",
      },
      trace,
    };
  }
  if (listener === undefined) {
    // Say which ports the address does serve: the usual mistake is a URL without the listener's port.
    const ports = [...config.listeners.keys()]
      .filter((k) => k.startsWith(`${request.address}:`) || k.startsWith("0.0.0.0:"))
      .map((k) => k.slice(k.lastIndexOf(":") + 1))
      .sort((a, b) => Number(a) - Number(b));
    const hint =
      ports.length === 0 ? "" : `; ${request.address} listens on port ${[...new Set(ports)].join(", ")}`;
    return {
      outcome: {
        kind: "connection-failed",
        reason: `no listener on ${request.address}:${request.port} (connection refused)${hint}`,
      },
      trace,
    };
  }
  const listenerName = String(listener.name);
  trace.push(
    request.via === "mesh"
      ? `the datapath redirects ${request.remoteAddress ?? "the pod"} → ${request.address}:${request.port} to listener ${listenerName} (127.0.0.1:${MESH_PROXY_PORT})`
      : `listener ${listenerName} serves ${request.address}:${request.port}`,
  );
  const choice = chooseFilterChain(listener, request);
  if (choice === undefined) {
    return {
      listener: listenerName,
      outcome: {
        kind: "connection-failed",
        reason:
          request.via === "mesh"
            ? `no filter chain of ${listenerName} matches ${request.address}:${request.port} from ${request.remoteAddress ?? "an unknown client"} (connection closed)`
            : `no filter chain of ${listenerName} matches SNI ${request.tls?.sni ?? "(none)"}`,
      },
      trace,
    };
  }
  trace.push(
    `filter chain ${choice.name}${request.tls?.sni === undefined ? "" : ` for SNI ${request.tls.sni}`}`,
  );
  const proxy = tcpProxyOf(choice.chain);
  const passthrough = proxy !== undefined && choice.chain.transport_socket === undefined;
  // Passthrough: no handshake with Envoy, the client's TLS goes to the backend as it is.
  const tls = passthrough
    ? { ok: true, reason: "TLS passed through", serverCertificates: [], clientCertificateRequested: false }
    : handshake(config, choice.chain, request);
  const base = {
    listener: listenerName,
    filterChain: choice.name,
    ...(tls.serverCertificates.length === 0 ? {} : { serverCertificates: tls.serverCertificates }),
    clientCertificateRequested: tls.clientCertificateRequested,
  };
  if (!tls.ok) return { ...base, outcome: { kind: "connection-failed", reason: tls.reason }, trace };
  if (proxy !== undefined) {
    const outcome = proxyConnection(config, choice.chain, proxy, tls, request.tls?.sni, random, trace);
    return { ...base, outcome, trace };
  }

  const hcm = connectionManager(choice.chain);
  if (hcm === undefined)
    return {
      ...base,
      outcome: { kind: "connection-failed", reason: "the filter chain has no HTTP connection manager" },
      trace,
    };
  const codecProblem = codecRefuses(hcm, request.http2 === true);
  if (codecProblem !== undefined)
    return { ...base, outcome: { kind: "connection-failed", reason: codecProblem }, trace };
  const routeConfigName = hcm.rds?.route_config_name;
  const routeConfig: RouteConfiguration | undefined =
    routeConfigName === undefined ? hcm.route_config : config.routeConfigurations.get(routeConfigName);
  if (routeConfig === undefined) {
    // Envoy keeps the listener warming until its RDS resource arrives; requests see no route.
    return {
      ...base,
      outcome: local(404, `route configuration ${routeConfigName ?? "(inline)"} is not on the node`),
      trace,
    };
  }
  const routeConfigurationName = String(routeConfig.name ?? routeConfigName ?? "");
  trace.push(`route configuration ${routeConfigurationName}`);
  const vh = selectVirtualHost(routeConfig, request.authority);
  if (vh === undefined) {
    return {
      ...base,
      routeConfiguration: routeConfigurationName,
      outcome: local(404, `no virtual host for host ${request.authority}`),
      trace,
    };
  }
  const vhName = String(vh.name);
  trace.push(`virtual host ${vhName} for host ${request.authority}`);
  const headers: HeaderList = request.headers.map(([n, v]) => [n.toLowerCase(), v] as const);
  const matched = selectRoute(vh, request.method, request.path, headers, random.fraction, request.authority);
  const where = { ...base, routeConfiguration: routeConfigurationName, virtualHost: vhName };
  if (matched === undefined)
    return {
      ...where,
      outcome: local(404, `no route of ${vhName} matches ${request.method} ${request.path}`),
      trace,
    };
  const route = matched.route;
  const routeName = String(route.name ?? "(unnamed)");
  trace.push(`route ${routeName}`);
  const at = { ...where, route: routeName };

  // Response header mutations of the route, virtual host and route configuration (most specific first).
  const responseOps = [
    headerOps(route, "response"),
    headerOps(vh, "response"),
    headerOps(routeConfig, "response"),
  ];

  // The CORS filter runs before the router: it may answer a preflight itself.
  const cors = evaluateCors(corsPolicyOf(route, vh), request.method, headers);
  if (cors.preflight !== undefined) {
    trace.push("CORS preflight answered by the CORS filter");
    return { ...at, outcome: local(200, "CORS preflight", cors.preflight), trace };
  }

  if (route.redirect !== undefined) {
    const redirect = route.redirect;
    const location = redirectLocation(
      redirect,
      request.scheme,
      request.authority,
      request.path,
      matched.matchedPrefix,
    );
    const headersOut = responseOps.reduce<[string, string][]>(
      (h, ops) => applyHeaderOps(h, ops),
      [["location", location]],
    );
    return { ...at, outcome: local(redirectStatus(redirect), `redirect to ${location}`, headersOut), trace };
  }
  if (route.direct_response !== undefined) {
    const dr = route.direct_response;
    const body = dr.body?.inline_string;
    const headersOut = responseOps.reduce<[string, string][]>((h, ops) => applyHeaderOps(h, ops), []);
    return { ...at, outcome: local(Number(dr.status ?? 200), "direct response", headersOut, body), trace };
  }
  const action = route.route;
  if (action === undefined) return { ...at, outcome: local(404, "route has no action"), trace };

  // An Upgrade (WebSocket) request needs the upgrade enabled on the connection manager, or on the route.
  const upgrade = headers.find(([n]) => n === "upgrade")?.[1]?.toLowerCase();
  if (upgrade !== undefined && !upgradeAllowed(upgrade, hcm, action)) {
    trace.push(`upgrade to ${upgrade} is not enabled: 403`);
    return { ...at, outcome: local(403, `upgrade ${upgrade} not allowed`), trace };
  }

  const notFoundCode =
    action.cluster_not_found_response_code === "INTERNAL_SERVER_ERROR"
      ? 500
      : action.cluster_not_found_response_code === "NOT_FOUND"
        ? 404
        : 503;
  const chosen = chooseCluster(action, random.cluster);
  if (chosen === undefined) return { ...at, outcome: local(503, "no cluster to route to"), trace };
  const cluster = config.clusters.get(chosen.cluster);
  if (cluster === undefined) {
    trace.push(`cluster ${chosen.cluster} not found: ${notFoundCode}`);
    return { ...at, outcome: local(notFoundCode, `cluster ${chosen.cluster} not found`), trace };
  }
  const endpoints = clusterEndpoints(config, cluster);
  const endpoint = pickEndpoint(endpoints, random.endpoint);
  if (endpoint === undefined) {
    trace.push(`cluster ${chosen.cluster} has no healthy endpoint: 503`);
    return {
      ...at,
      outcome: local(503, `no healthy upstream in cluster ${chosen.cluster}`, [], "no healthy upstream"),
      trace,
    };
  }
  trace.push(`cluster ${chosen.cluster}, endpoint ${endpoint.address}:${endpoint.port}`);

  // The request as the upstream receives it.
  let path = request.path;
  let authority = request.authority;
  const rewritten = rewritePath(action, request.path, matched.matchedPrefix);
  let upstreamHeaders: [string, string][] = headers.map(([n, v]) => [n, v]);
  if (rewritten !== undefined) {
    upstreamHeaders.push(["x-envoy-original-path", request.path]);
    path = rewritten;
  }
  if (typeof action.host_rewrite_literal === "string" && action.host_rewrite_literal !== "") {
    // As for paths, Envoy keeps the Host it replaced in x-envoy-original-host.
    upstreamHeaders.push(["x-envoy-original-host", request.authority]);
    authority = action.host_rewrite_literal;
  }
  // Header mutations: weighted cluster entry first, then route, virtual host, route configuration
  // (Envoy's default order; the last writer wins for overwrites).
  const requestOps = [
    ...(chosen.entry === undefined ? [] : [headerOps(chosen.entry, "request")]),
    headerOps(route, "request"),
    headerOps(vh, "request"),
    headerOps(routeConfig, "request"),
  ];
  for (const ops of requestOps) upstreamHeaders = applyHeaderOps(upstreamHeaders, ops);
  upstreamHeaders = upstreamHeaders.filter(([n]) => n !== "x-forwarded-proto");
  upstreamHeaders.push(["x-forwarded-proto", request.scheme]);
  upstreamHeaders = forwardedFor(hcm, request, upstreamHeaders);
  const timeout = typeof action.timeout === "string" ? action.timeout : "15s";
  const expected = expectedTimeoutMs(timeout, action.retry_policy?.per_try_timeout);
  if (expected !== undefined) upstreamHeaders.push(["x-envoy-expected-rq-timeout-ms", String(expected)]);
  const upstreamRequest = {
    method: request.method,
    scheme: request.scheme,
    authority,
    path,
    headers: upstreamHeaders,
  };

  const mirrors: Mirror[] = [];
  for (const policy of action.request_mirror_policies ?? []) {
    const fraction = policy.runtime_fraction?.default_value;
    if (fraction !== undefined) {
      const denominator =
        fraction.denominator === "MILLION"
          ? 1_000_000
          : fraction.denominator === "TEN_THOUSAND"
            ? 10_000
            : 100;
      if (!(random.fraction * denominator < Number(fraction.numerator ?? 0))) continue;
    }
    const name = String(policy.cluster ?? "");
    const mirrorCluster = config.clusters.get(name);
    const mirrorEndpoint =
      mirrorCluster === undefined
        ? undefined
        : pickEndpoint(clusterEndpoints(config, mirrorCluster), random.endpoint);
    // Envoy appends "-shadow" to the mirrored request's host.
    const shadowHost =
      policy.disable_shadow_host_suffix_append === true
        ? authority
        : `${authority.replace(/:\d+$/, "")}-shadow${authority.match(/:\d+$/)?.[0] ?? ""}`;
    mirrors.push({
      cluster: name,
      ...(mirrorEndpoint === undefined ? {} : { endpoint: mirrorEndpoint }),
      request: {
        ...upstreamRequest,
        authority: shadowHost,
        headers: shadowHeaders(upstreamHeaders, options),
      },
    });
  }

  const retryPolicy = action.retry_policy;
  const weighted = chosen.entry === undefined ? [] : [headerOps(chosen.entry, "response")];
  const responseAdd = [...weighted, ...responseOps];
  const tlsUp = upstreamTls(config, cluster);
  return {
    ...at,
    outcome: {
      kind: "forward",
      cluster: chosen.cluster,
      ...(chosen.all === undefined ? {} : { weightedClusters: chosen.all }),
      endpoint,
      ...(upgrade === undefined ? {} : { upgrade }),
      ...(tlsUp === undefined ? {} : { upstreamTls: tlsUp }),
      request: upstreamRequest,
      mirrors,
      timeout,
      ...(retryPolicy === undefined
        ? {}
        : {
            retry: {
              retryOn: String(retryPolicy.retry_on ?? ""),
              numRetries: Number(retryPolicy.num_retries ?? 1),
              retriableStatusCodes: (retryPolicy.retriable_status_codes ?? []).map(Number),
              ...(typeof retryPolicy.per_try_timeout === "string"
                ? { perTryTimeout: retryPolicy.per_try_timeout }
                : {}),
              ...(retryPolicy.retry_back_off?.base_interval === undefined
                ? {}
                : { backoff: retryPolicy.retry_back_off.base_interval }),
            },
          }),
      response: {
        headerMutations: responseAdd,
        ...(cors.actual === undefined ? {} : { cors: cors.actual }),
      },
    },
    trace,
  };
}

/**
 * The response the client gets for a forwarded request, given the upstream's
 * status and headers: the route's response header mutations (weighted
 * cluster entry, route, virtual host, route configuration), then the CORS
 * filter's headers.
 */
export function finalizeResponse(
  transform: SimResult["outcome"],
  upstreamHeaders: HeaderList,
): [string, string][] {
  if (transform.kind !== "forward") return [];
  let headers: [string, string][] = upstreamHeaders.map(([n, v]) => [n.toLowerCase(), v]);
  const t = transform.response;
  for (const ops of t.headerMutations) headers = applyHeaderOps(headers, ops);
  if (t.cors !== undefined) {
    headers = applyHeaderOps(headers, {
      add: [
        {
          name: "access-control-allow-origin",
          value: t.cors.allowOrigin,
          action: "OVERWRITE_IF_EXISTS_OR_ADD",
        },
        ...(t.cors.allowCredentials
          ? [
              {
                name: "access-control-allow-credentials",
                value: "true",
                action: "OVERWRITE_IF_EXISTS_OR_ADD",
              },
            ]
          : []),
        ...(t.cors.exposeHeaders === undefined
          ? []
          : [
              {
                name: "access-control-expose-headers",
                value: t.cors.exposeHeaders,
                action: "OVERWRITE_IF_EXISTS_OR_ADD",
              },
            ]),
      ],
      remove: [],
    });
  }
  return headers;
}
