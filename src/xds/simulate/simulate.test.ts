/**
 * The simulator against hand-written Envoy configuration, one behaviour per
 * test, each stated as Envoy's documentation and source define it (cited
 * where the behaviour is subtle).
 */
import { describe, expect, it } from "vitest";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import {
  type EnvoyResourceJson,
  type EnvoyResourceSet,
  emptyResourceSet,
} from "../translate/resource-set.ts";
import { finalizeResponse, prepareNodeConfig, simulate } from "./index.ts";
import type { SimRequest } from "./types.ts";

const HCM =
  "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";
const ROUTER = {
  name: "envoy.filters.http.router",
  typed_config: { "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router" },
};
const ADS = { ads: {}, resource_api_version: "V3" };

function hcm(routeConfig: string) {
  return {
    name: "hcm",
    typed_config: {
      "@type": HCM,
      stat_prefix: "t",
      rds: { route_config_name: routeConfig, config_source: ADS },
      http_filters: [ROUTER],
    },
  };
}

function config(resources: {
  listeners?: EnvoyResourceJson[];
  routes?: EnvoyResourceJson[];
  clusters?: EnvoyResourceJson[];
  endpoints?: EnvoyResourceJson[];
  secrets?: EnvoyResourceJson[];
}) {
  const set = emptyResourceSet();
  const put = (type: keyof EnvoyResourceSet, list: EnvoyResourceJson[] | undefined, key: string) => {
    for (const r of list ?? []) (set[type] as Map<string, EnvoyResourceJson>).set(String(r[key]), r);
  };
  put(TYPE_URLS.listener, resources.listeners, "name");
  put(TYPE_URLS.routeConfiguration, resources.routes, "name");
  put(TYPE_URLS.cluster, resources.clusters, "name");
  put(TYPE_URLS.clusterLoadAssignment, resources.endpoints, "cluster_name");
  put(TYPE_URLS.secret, resources.secrets, "name");
  const { config: node, issues } = prepareNodeConfig(set);
  expect(issues).toEqual([]);
  return node;
}

function cluster(name: string) {
  return {
    name,
    type: "EDS",
    eds_cluster_config: { eds_config: ADS, service_name: name },
    connect_timeout: "1s",
  };
}

function endpoints(name: string, ips: string[]) {
  return {
    cluster_name: name,
    endpoints: [
      {
        lb_endpoints: ips.map((ip) => ({
          endpoint: { address: { socket_address: { address: ip, port_value: 8080 } } },
        })),
      },
    ],
  };
}

const listener = {
  name: "l",
  address: { socket_address: { address: "10.0.0.1", port_value: 80 } },
  filter_chains: [{ name: "c", filters: [hcm("rc")] }],
};

function request(
  path: string,
  authority = "example.com",
  headers: [string, string][] = [],
  method = "GET",
): SimRequest {
  return { address: "10.0.0.1", port: 80, method, scheme: "http", authority, path, headers };
}

function routeConfig(virtualHosts: EnvoyResourceJson[]) {
  return { name: "rc", virtual_hosts: virtualHosts };
}

describe("virtual host selection (Envoy VirtualHost.domains search order)", () => {
  const vhosts = [
    {
      name: "star",
      domains: ["*"],
      routes: [{ name: "r-star", match: { prefix: "/" }, direct_response: { status: 201 } }],
    },
    {
      name: "suffix-short",
      domains: ["*.com"],
      routes: [{ name: "r-short", match: { prefix: "/" }, direct_response: { status: 202 } }],
    },
    {
      name: "suffix-long",
      domains: ["*.example.com"],
      routes: [{ name: "r-long", match: { prefix: "/" }, direct_response: { status: 203 } }],
    },
    {
      name: "prefix",
      domains: ["foo.*"],
      routes: [{ name: "r-prefix", match: { prefix: "/" }, direct_response: { status: 204 } }],
    },
    {
      name: "exact",
      domains: ["www.example.com"],
      routes: [{ name: "r-exact", match: { prefix: "/" }, direct_response: { status: 205 } }],
    },
  ];
  const node = config({ listeners: [listener], routes: [routeConfig(vhosts)] });
  it.each([
    ["www.example.com", "exact"],
    ["api.example.com", "suffix-long"],
    ["other.com", "suffix-short"],
    ["foo.org", "prefix"],
    ["bar.org", "star"],
    ["WWW.Example.com", "exact"],
  ])("%s → %s", (host, vh) => {
    expect(simulate(node, request("/", host)).virtualHost).toBe(vh);
  });

  it("matches the Host with its port unless ignore_port_in_host_matching is set", () => {
    expect(simulate(node, request("/", "www.example.com:80")).virtualHost).toBe("star");
    const ignoring = config({
      listeners: [listener],
      routes: [{ ...routeConfig(vhosts), ignore_port_in_host_matching: true }],
    });
    expect(simulate(ignoring, request("/", "www.example.com:80")).virtualHost).toBe("exact");
  });
});

describe("route matching", () => {
  const routes = [
    { name: "exact", match: { path: "/exact" }, direct_response: { status: 200 } },
    { name: "sep", match: { path_separated_prefix: "/api" }, direct_response: { status: 201 } },
    { name: "regex", match: { safe_regex: { regex: "/v[0-9]+" } }, direct_response: { status: 202 } },
    {
      name: "header",
      match: { prefix: "/h", headers: [{ name: "x-version", string_match: { exact: "2" } }] },
      direct_response: { status: 203 },
    },
    {
      name: "absent",
      match: { prefix: "/h", headers: [{ name: "x-version", present_match: false }] },
      direct_response: { status: 204 },
    },
    {
      name: "query",
      match: { prefix: "/q", query_parameters: [{ name: "animal", string_match: { exact: "whale" } }] },
      direct_response: { status: 205 },
    },
    {
      name: "method",
      match: { prefix: "/m", headers: [{ name: ":method", string_match: { exact: "POST" } }] },
      direct_response: { status: 206 },
    },
    { name: "rest", match: { prefix: "/" }, direct_response: { status: 404 } },
  ];
  const node = config({
    listeners: [listener],
    routes: [routeConfig([{ name: "vh", domains: ["*"], routes }])],
  });
  const route = (path: string, headers: [string, string][] = [], method = "GET") =>
    simulate(node, request(path, "x", headers, method)).route;

  it("path: exact only, query string ignored", () => {
    expect(route("/exact")).toBe("exact");
    expect(route("/exact?a=1")).toBe("exact");
    expect(route("/exact/")).toBe("rest");
  });

  it("path_separated_prefix: whole segments only", () => {
    expect(route("/api")).toBe("sep");
    expect(route("/api/v1")).toBe("sep");
    expect(route("/apis")).toBe("rest");
  });

  it("safe_regex: the whole path must match", () => {
    expect(route("/v12")).toBe("regex");
    expect(route("/v12/x")).toBe("rest");
  });

  it("headers: exact value, then present_match false for a missing header", () => {
    expect(route("/h", [["x-version", "2"]])).toBe("header");
    expect(route("/h", [["x-version", "3"]])).toBe("rest");
    expect(route("/h")).toBe("absent");
  });

  it("query parameters and method", () => {
    expect(route("/q?animal=whale")).toBe("query");
    expect(route("/q?ANIMAL=whale")).toBe("rest");
    expect(route("/m", [], "POST")).toBe("method");
    expect(route("/m")).toBe("rest");
  });
});

describe("actions", () => {
  const vh = {
    name: "vh",
    domains: ["*"],
    routes: [
      {
        name: "rewrite",
        match: { path_separated_prefix: "/old" },
        route: { cluster: "a", prefix_rewrite: "/new", host_rewrite_literal: "backend.internal" },
        request_headers_to_add: [
          { header: { key: "x-set", value: "set" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
          { header: { key: "x-add", value: "added" }, append_action: "APPEND_IF_EXISTS_OR_ADD" },
          { header: { key: "x-absent", value: "only-if-absent" }, append_action: "ADD_IF_ABSENT" },
        ],
        request_headers_to_remove: ["x-drop"],
      },
      {
        name: "regex",
        match: { prefix: "/full" },
        route: { cluster: "a", regex_rewrite: { pattern: { regex: "^/.*$" }, substitution: "/replaced" } },
      },
      {
        name: "redirect",
        match: { prefix: "/redir" },
        redirect: { scheme_redirect: "https", host_redirect: "example.org", response_code: "FOUND" },
      },
      {
        name: "redirect-port",
        match: { prefix: "/port" },
        redirect: { port_redirect: 8443, prefix_rewrite: "/moved" },
      },
      {
        name: "weighted",
        match: { prefix: "/w" },
        route: {
          weighted_clusters: {
            clusters: [
              { name: "a", weight: 70 },
              { name: "missing", weight: 30 },
            ],
          },
          cluster_not_found_response_code: "INTERNAL_SERVER_ERROR",
        },
      },
      { name: "empty", match: { prefix: "/empty" }, route: { cluster: "empty" } },
      {
        name: "mirror",
        match: { prefix: "/mirror" },
        route: { cluster: "a", request_mirror_policies: [{ cluster: "b" }] },
      },
      {
        name: "response",
        match: { prefix: "/resp" },
        route: { cluster: "a" },
        response_headers_to_add: [
          { header: { key: "x-resp", value: "1" }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
        ],
        response_headers_to_remove: ["server"],
      },
    ],
  };
  const node = config({
    listeners: [listener],
    routes: [routeConfig([vh])],
    clusters: [cluster("a"), cluster("b"), cluster("empty")],
    endpoints: [
      endpoints("a", ["10.1.0.1", "10.1.0.2"]),
      endpoints("b", ["10.2.0.1"]),
      endpoints("empty", []),
    ],
  });

  it("prefix rewrite, host rewrite and header actions (removals first, then additions)", () => {
    const r = simulate(
      node,
      request("/old/x?q=1", "example.com", [
        ["x-set", "client"],
        ["x-add", "client"],
        ["x-absent", "client"],
        ["x-drop", "bye"],
      ]),
    );
    expect(r.outcome.kind).toBe("forward");
    if (r.outcome.kind !== "forward") return;
    expect(r.outcome.request.path).toBe("/new/x?q=1");
    expect(r.outcome.request.authority).toBe("backend.internal");
    const h = r.outcome.request.headers;
    expect(h.filter(([n]) => n === "x-set")).toEqual([["x-set", "set"]]);
    expect(h.filter(([n]) => n === "x-add")).toEqual([
      ["x-add", "client"],
      ["x-add", "added"],
    ]);
    expect(h.filter(([n]) => n === "x-absent")).toEqual([["x-absent", "client"]]);
    expect(h.some(([n]) => n === "x-drop")).toBe(false);
    expect(h).toContainEqual(["x-envoy-original-path", "/old/x?q=1"]);
  });

  it("regex rewrite replaces the path, keeping the query", () => {
    const r = simulate(node, request("/full/a/b?k=v"));
    expect(r.outcome.kind === "forward" && r.outcome.request.path).toBe("/replaced?k=v");
  });

  it("redirect Location (Envoy Http::Utility::newUri): host redirect drops the port; an explicit port is appended", () => {
    const a = simulate(node, request("/redir/x", "example.com:80"));
    expect(a.outcome).toMatchObject({
      kind: "local-response",
      status: 302,
      headers: [["location", "https://example.org/redir/x"]],
    });
    const b = simulate(node, request("/port/y", "example.com:80"));
    expect(b.outcome).toMatchObject({
      kind: "local-response",
      status: 301,
      headers: [["location", "http://example.com:8443/moved/y"]],
    });
  });

  it("weighted clusters follow the random value; a missing cluster answers cluster_not_found_response_code", () => {
    const first = simulate(node, request("/w"), { random: { cluster: 0.5 } });
    expect(first.outcome.kind === "forward" && first.outcome.cluster).toBe("a");
    const second = simulate(node, request("/w"), { random: { cluster: 0.8 } });
    expect(second.outcome).toMatchObject({ kind: "local-response", status: 500 });
  });

  it("a cluster without healthy endpoints answers 503", () => {
    expect(simulate(node, request("/empty")).outcome).toMatchObject({ kind: "local-response", status: 503 });
  });

  it("the endpoint follows the random value", () => {
    const a = simulate(node, request("/"), { random: { endpoint: 0.1 } });
    const b = simulate(node, request("/resp"), { random: { endpoint: 0.9 } });
    expect(a.outcome.kind === "local-response" && a.outcome.status).toBe(404);
    expect(b.outcome.kind === "forward" && b.outcome.endpoint.address).toBe("10.1.0.2");
  });

  it("mirrors go to the mirror cluster with -shadow appended to the host", () => {
    const r = simulate(node, request("/mirror", "example.com:80"));
    expect(
      r.outcome.kind === "forward" && r.outcome.mirrors.map((m) => [m.cluster, m.request.authority]),
    ).toEqual([["b", "example.com-shadow:80"]]);
  });

  it("response header mutations apply to the upstream's response", () => {
    const r = simulate(node, request("/resp"));
    expect(
      finalizeResponse(r.outcome, [
        ["server", "echo"],
        ["x-resp", "0"],
        ["content-type", "text/plain"],
      ]),
    ).toEqual([
      ["content-type", "text/plain"],
      ["x-resp", "1"],
    ]);
  });
});

describe("CORS filter", () => {
  const policy = {
    "@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.CorsPolicy",
    allow_origin_string_match: [{ exact: "https://a.example" }],
    allow_methods: "GET, PUT",
    allow_headers: "*",
    expose_headers: "x-exposed",
    max_age: "60",
    allow_credentials: true,
    forward_not_matching_preflights: false,
  };
  const node = config({
    listeners: [listener],
    routes: [
      routeConfig([
        {
          name: "vh",
          domains: ["*"],
          routes: [
            {
              name: "r",
              match: { prefix: "/" },
              route: { cluster: "a" },
              typed_per_filter_config: { "envoy.filters.http.cors": policy },
            },
          ],
        },
      ]),
    ],
    clusters: [cluster("a")],
    endpoints: [endpoints("a", ["10.1.0.1"])],
  });

  it("answers a preflight from an allowed origin itself, echoing requested headers for *", () => {
    const r = simulate(
      node,
      request(
        "/",
        "x",
        [
          ["origin", "https://a.example"],
          ["access-control-request-method", "PUT"],
          ["access-control-request-headers", "x-a, x-b"],
        ],
        "OPTIONS",
      ),
    );
    expect(r.outcome.kind).toBe("local-response");
    if (r.outcome.kind !== "local-response") return;
    expect(r.outcome.status).toBe(200);
    expect(Object.fromEntries(r.outcome.headers)).toEqual({
      "access-control-allow-origin": "https://a.example",
      "access-control-allow-credentials": "true",
      "access-control-allow-methods": "GET, PUT",
      "access-control-allow-headers": "x-a, x-b",
      "access-control-max-age": "60",
      "access-control-expose-headers": "x-exposed",
    });
  });

  it("answers a preflight from another origin without allow-origin, and adds headers to actual responses", () => {
    const other = simulate(
      node,
      request(
        "/",
        "x",
        [
          ["origin", "https://b.example"],
          ["access-control-request-method", "GET"],
        ],
        "OPTIONS",
      ),
    );
    expect(
      other.outcome.kind === "local-response" &&
        other.outcome.headers.some(([n]) => n === "access-control-allow-origin"),
    ).toBe(false);
    const actual = simulate(node, request("/", "x", [["origin", "https://a.example"]]));
    expect(finalizeResponse(actual.outcome, [])).toContainEqual([
      "access-control-allow-origin",
      "https://a.example",
    ]);
  });
});

describe("listeners, filter chains and TLS", () => {
  const tlsChain = (name: string, serverNames: string[], requireClient = false) => ({
    name,
    ...(serverNames.length === 0 ? {} : { filter_chain_match: { server_names: serverNames } }),
    transport_socket: {
      name: "tls",
      typed_config: {
        "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "cert", sds_config: ADS }] },
        ...(requireClient ? { require_client_certificate: true } : {}),
      },
    },
    filters: [hcm("rc")],
  });
  const tlsListener = {
    name: "tls",
    address: { socket_address: { address: "0.0.0.0", port_value: 443 } },
    filter_chains: [
      tlsChain("any", []),
      tlsChain("wild", ["*.example.com"]),
      tlsChain("exact", ["www.example.com"], true),
    ],
  };
  const secret = {
    name: "cert",
    tls_certificate: { certificate_chain: { inline_string: "x" }, private_key: { inline_string: "y" } },
  };
  const node = config({
    listeners: [tlsListener],
    routes: [
      routeConfig([
        {
          name: "vh",
          domains: ["*"],
          routes: [{ name: "r", match: { prefix: "/" }, direct_response: { status: 200 } }],
        },
      ]),
    ],
    secrets: [secret],
  });
  const tls = (sni: string | undefined): SimRequest => ({
    address: "10.9.9.9",
    port: 443,
    tls: sni === undefined ? {} : { sni },
    method: "GET",
    scheme: "https",
    authority: "h",
    path: "/",
    headers: [],
  });

  it("picks the exact server name, then the longest wildcard, then the chain without names", () => {
    expect(simulate(node, tls("api.example.com")).filterChain).toBe("wild");
    expect(simulate(node, tls("a.b.example.com")).filterChain).toBe("wild");
    expect(simulate(node, tls("other.org")).filterChain).toBe("any");
    expect(simulate(node, tls(undefined)).filterChain).toBe("any");
  });

  it("fails the handshake when a required client certificate is missing, or when the client speaks plain text", () => {
    expect(simulate(node, tls("www.example.com")).outcome).toMatchObject({ kind: "connection-failed" });
    const plain = simulate(node, {
      ...tls(undefined),
      tls: undefined as never,
      scheme: "http",
    } as SimRequest);
    expect(plain.outcome).toMatchObject({ kind: "connection-failed" });
  });

  it("refuses connections to a port with no listener", () => {
    expect(simulate(node, { ...tls("x"), port: 8443 }).outcome).toMatchObject({ kind: "connection-failed" });
  });
});

describe("TCP proxy chains (TLSRoute): the connection is routed, not a request", () => {
  const TCP_PROXY = "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy";
  const proxy = (
    target: { cluster: string } | { weighted_clusters: { clusters: { name: string; weight: number }[] } },
  ) => ({
    name: "envoy.filters.network.tcp_proxy",
    typed_config: { "@type": TCP_PROXY, stat_prefix: "t", ...target },
  });
  const terminate = {
    name: "tls",
    typed_config: {
      "@type": "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
      common_tls_context: { tls_certificate_sds_secret_configs: [{ name: "cert", sds_config: ADS }] },
    },
  };
  const node = config({
    listeners: [
      {
        name: "tcp",
        address: { socket_address: { address: "10.0.0.2", port_value: 443 } },
        listener_filters: [
          {
            name: "envoy.filters.listener.tls_inspector",
            typed_config: {
              "@type": "type.googleapis.com/envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector",
            },
          },
        ],
        filter_chains: [
          {
            name: "pass",
            filter_chain_match: { server_names: ["a.example.com"] },
            filters: [proxy({ cluster: "a" })],
          },
          {
            name: "split",
            filter_chain_match: { server_names: ["*.example.com"] },
            filters: [
              proxy({
                weighted_clusters: {
                  clusters: [
                    { name: "a", weight: 1 },
                    { name: "gone", weight: 1 },
                  ],
                },
              }),
            ],
          },
          {
            name: "term",
            filter_chain_match: { server_names: ["t.example.org"] },
            transport_socket: terminate,
            filters: [proxy({ cluster: "a" })],
          },
        ],
      },
    ],
    clusters: [cluster("a")],
    endpoints: [endpoints("a", ["10.1.0.1"])],
    secrets: [
      {
        name: "cert",
        tls_certificate: { certificate_chain: { inline_string: "x" }, private_key: { inline_string: "y" } },
      },
    ],
  });
  const dial = (sni: string | undefined): SimRequest => ({
    address: "10.0.0.2",
    port: 443,
    tls: sni === undefined ? {} : { sni },
    method: "GET",
    scheme: "https",
    authority: sni ?? "h",
    path: "/",
    headers: [],
  });

  it("passes TLS through to the cluster of the chain the SNI picks, the SNI reaching the backend", () => {
    expect(simulate(node, dial("a.example.com")).outcome).toEqual({
      kind: "tcp-forward",
      cluster: "a",
      endpoint: { address: "10.1.0.1", port: 8080 },
      tlsTerminated: false,
      passthroughSni: "a.example.com",
    });
  });

  it("draws a weighted cluster; a cluster that is not on the node closes the connection", () => {
    expect(simulate(node, dial("b.example.com"), { random: { cluster: 0.2 } }).outcome).toMatchObject({
      kind: "tcp-forward",
      cluster: "a",
    });
    expect(simulate(node, dial("b.example.com"), { random: { cluster: 0.7 } }).outcome).toMatchObject({
      kind: "connection-failed",
    });
  });

  it("terminates TLS on a chain with a transport socket, and needs a TLS client for it", () => {
    expect(simulate(node, dial("t.example.org")).outcome).toMatchObject({
      kind: "tcp-forward",
      tlsTerminated: true,
    });
    expect(simulate(node, dial("t.example.org")).serverCertificates).toEqual(["cert"]);
    expect(simulate(node, dial("nothing.test")).outcome).toMatchObject({ kind: "connection-failed" });
  });
});
