import { describe, expect, it } from "vitest";
import type { ServiceBackend } from "../../model/backend.ts";
import type { ForwardAction, Route, RouteAction, RouteMatch } from "../../model/gateway.ts";
import { encodeResource, TYPE_URLS } from "../proto/index.ts";
import { buildProxylessResources } from "./proxyless.ts";
import { buildProxylessRoutes, PROXYLESS_UNSUPPORTED_CLUSTER } from "./proxyless-routes.ts";
import { INVALID_BACKEND_CLUSTER } from "./route.ts";

const NONE = { set: [], add: [], remove: [] };
const ALL: RouteMatch = { path: { type: "PathPrefix", value: "/" }, headers: [], queryParams: [] };

function forward(backends: ForwardAction["backends"], extra: Partial<ForwardAction> = {}): ForwardAction {
  return { kind: "forward", backends, mirrors: [], websocket: false, ...extra };
}

function route(
  name: string,
  match: Partial<RouteMatch>,
  action: RouteAction,
  extra: Partial<Route> = {},
): Route {
  return {
    name: `shop/r/${name}`,
    match: { ...ALL, ...match },
    action,
    requestHeaders: NONE,
    responseHeaders: NONE,
    sources: [],
    ...extra,
  };
}

function backend(service: string): ServiceBackend {
  return {
    kind: "Service",
    clusterName: `shop/${service}:50051`,
    namespace: "shop",
    service,
    port: 50051,
    protocol: "http2",
    endpoints: [{ address: "10.0.0.1", port: 9000 }],
    sources: [],
  };
}

describe("GAMMA routes for proxyless gRPC", () => {
  it("translates path, header and weighted-split rules into what gRPC matches", () => {
    const built = buildProxylessRoutes([
      route(
        "0/0",
        {
          path: { type: "Exact", value: "/shop.Cart/Add" },
          headers: [
            { name: "x-canary", type: "Exact", value: "yes" },
            { name: "x-user", type: "RegularExpression", value: "a.*" },
          ],
        },
        forward([{ cluster: "shop/v2:50051", weight: 1 }], { requestTimeout: 1.5 }),
      ),
      route(
        "1/0",
        { path: { type: "PathPrefix", value: "/shop.Cart/" }, method: "POST" },
        forward([
          { cluster: "shop/v1:50051", weight: 3 },
          { cluster: "shop/v2:50051", weight: 1 },
          { cluster: "shop/v3:50051", weight: 0 },
        ]),
      ),
      route(
        "2/0",
        { path: { type: "RegularExpression", value: "/shop\\.Cart/.*" } },
        forward([{ weight: 1 }]),
      ),
      route("3/0", {}, forward([{ cluster: "shop/v1:50051", weight: 1 }, { weight: 1 }])),
    ]);
    expect(built.routes).toEqual([
      {
        name: "shop/r/0/0",
        match: {
          path: "/shop.Cart/Add",
          headers: [
            { name: "x-canary", string_match: { exact: "yes" } },
            { name: "x-user", string_match: { safe_regex: { regex: "a.*" } } },
          ],
        },
        route: { cluster: "shop/v2:50051", max_stream_duration: { max_stream_duration: "1.5s" } },
      },
      {
        // Whole segments, as the Gateway API's PathPrefix: /shop.Cart and /shop.Cart/..., not /shop.CartX.
        name: "shop/r/1/0",
        match: { safe_regex: { regex: "/shop\\.Cart(/.*)?" } },
        route: {
          weighted_clusters: {
            clusters: [
              { name: "shop/v1:50051", weight: 3 },
              { name: "shop/v2:50051", weight: 1 },
            ],
          },
        },
      },
      {
        name: "shop/r/2/0",
        match: { safe_regex: { regex: "/shop\\.Cart/.*" } },
        route: { cluster: INVALID_BACKEND_CLUSTER },
      },
      {
        name: "shop/r/3/0",
        match: { prefix: "/" },
        route: {
          weighted_clusters: {
            clusters: [
              { name: "shop/v1:50051", weight: 1 },
              { name: INVALID_BACKEND_CLUSTER, weight: 1 },
            ],
          },
        },
      },
    ]);
    expect(built.clusters).toEqual(["shop/v1:50051", "shop/v2:50051"]);
    expect(built.empty).toEqual([INVALID_BACKEND_CLUSTER]);
    expect(built.notes).toEqual([]);
  });

  it("leaves out what gRPC does not do, skips routes that never match a call, refuses redirects and rewrites", () => {
    const built = buildProxylessRoutes([
      route("get/0", { method: "GET" }, forward([{ cluster: "shop/v1:50051", weight: 1 }])),
      route(
        "query/0",
        { queryParams: [{ name: "a", type: "Exact", value: "b" }] },
        forward([{ cluster: "shop/v1:50051", weight: 1 }]),
      ),
      route(
        "redirect/0",
        { path: { type: "Exact", value: "/a.B/Old" } },
        { kind: "redirect", statusCode: 302, hostname: "x" },
      ),
      route("direct/0", { path: { type: "Exact", value: "/a.B/Gone" } }, { kind: "direct", status: 500 }),
      route(
        "rewrite/0",
        { path: { type: "Exact", value: "/a.B/C" } },
        forward([{ cluster: "shop/v1:50051", weight: 1 }], {
          pathRewrite: { type: "ReplaceFullPath", value: "/a.B/D" },
        }),
      ),
      route(
        "extras/0",
        {},
        forward(
          [
            {
              cluster: "shop/v2:50051",
              weight: 1,
              requestHeaders: { set: [{ name: "a", value: "b" }], add: [], remove: [] },
            },
          ],
          {
            mirrors: [{ cluster: "shop/v3:50051", fraction: 1 }],
            hostRewrite: "h",
            backendTimeout: 1,
            retry: { attempts: 2, codes: [503] },
          },
        ),
        {
          cors: {
            allowOrigins: ["*"],
            allowMethods: [],
            allowHeaders: [],
            exposeHeaders: [],
            allowCredentials: false,
          },
        },
      ),
    ]);
    expect(built.routes.map((r) => [r.name, r.route])).toEqual([
      ["shop/r/redirect/0", { cluster: `${PROXYLESS_UNSUPPORTED_CLUSTER}/redirect` }],
      ["shop/r/direct/0", { cluster: `${PROXYLESS_UNSUPPORTED_CLUSTER}/direct-response` }],
      ["shop/r/rewrite/0", { cluster: `${PROXYLESS_UNSUPPORTED_CLUSTER}/path-rewrite` }],
      // Routed as before, without what gRPC does not do: no mirror, headers, CORS, retry, host rewrite.
      ["shop/r/extras/0", { cluster: "shop/v2:50051" }],
    ]);
    expect(built.routes.every((r) => r.typed_per_filter_config === undefined)).toBe(true);
    expect(built.clusters).toEqual(["shop/v2:50051"]);
    expect(built.empty).toEqual([
      `${PROXYLESS_UNSUPPORTED_CLUSTER}/direct-response`,
      `${PROXYLESS_UNSUPPORTED_CLUSTER}/path-rewrite`,
      `${PROXYLESS_UNSUPPORTED_CLUSTER}/redirect`,
    ]);
    expect(built.notes).toEqual([
      { route: "shop/r/get/0", kind: "skipped", detail: "method GET (gRPC calls are POSTs)" },
      { route: "shop/r/query/0", kind: "skipped", detail: "query parameters (gRPC calls have none)" },
      {
        route: "shop/r/redirect/0",
        kind: "refused",
        detail: "redirect (not done by gRPC): calls fail UNAVAILABLE",
      },
      {
        route: "shop/r/direct/0",
        kind: "refused",
        detail: "direct-response (not done by gRPC): calls fail UNAVAILABLE",
      },
      {
        route: "shop/r/rewrite/0",
        kind: "refused",
        detail: "path-rewrite (not done by gRPC): calls fail UNAVAILABLE",
      },
      {
        route: "shop/r/extras/0",
        kind: "left-out",
        detail:
          "header modifiers, request mirrors, host rewrite, CORS, backend timeout, retry (HTTP status codes) (not done by gRPC)",
      },
    ]);
  });

  it("serves a cluster for each Service port the routes send to, and empty ones for refusals and invalid backends", () => {
    const routes = [
      route(
        "a/0",
        { headers: [{ name: "x-canary", type: "Exact", value: "yes" }] },
        forward([{ cluster: "shop/v2:50051", weight: 1 }]),
      ),
      route("b/0", { path: { type: "Exact", value: "/a.B/C" } }, { kind: "redirect", statusCode: 301 }),
      route(
        "c/0",
        { path: { type: "PathPrefix", value: "/a.B" } },
        forward([
          { cluster: "shop/v1:50051", weight: 9 },
          { cluster: "shop/v2:50051", weight: 1 },
          { cluster: "shop/gone:50051", weight: 1 },
        ]),
      ),
    ];
    const backends = new Map([backend("v1"), backend("v2")].map((b) => [b.clusterName, b]));
    const { resources, notes } = buildProxylessResources("cart.shop:50051", backend("cart"), {
      routes,
      backends,
    });
    expect(notes.map((n) => n.kind)).toEqual(["refused"]);
    // The Service's own cluster is not among them: no route sends there. The redirect's and the
    // backend that does not resolve are there without endpoints (gRPC would stall on missing ones).
    const names = [
      "shop/gone:50051",
      "shop/v1:50051",
      "shop/v2:50051",
      `${PROXYLESS_UNSUPPORTED_CLUSTER}/redirect`,
    ];
    expect([...resources[TYPE_URLS.cluster].keys()].sort()).toEqual(names);
    expect([...resources[TYPE_URLS.clusterLoadAssignment].keys()].sort()).toEqual(names);
    const endpoints = (name: string) =>
      (resources[TYPE_URLS.clusterLoadAssignment].get(name) as { endpoints?: unknown[] }).endpoints ?? [];
    expect(endpoints("shop/v1:50051")).toHaveLength(1);
    expect(endpoints("shop/gone:50051")).toEqual([]);
    expect(endpoints(`${PROXYLESS_UNSUPPORTED_CLUSTER}/redirect`)).toEqual([]);
    for (const [typeUrl, set] of Object.entries(resources))
      for (const [name, json] of set) expect(encodeResource(typeUrl, json).issues, name).toEqual([]);
  });
});
