/**
 * The proxyless route configuration against the real client's judgement:
 * every kind of route strait can make from GAMMA routes, encoded as served,
 * decoded and validated by @grpc/grpc-js-xds (test/support/grpc-xds-validate-rds.ts,
 * its own process), which NACKs a whole RouteConfiguration with one route it
 * cannot take. And the counterexample: the gateway's Envoy routes would be refused.
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ForwardAction, Route, RouteAction, RouteMatch } from "../src/model/gateway.ts";
import { encodeResource, TYPE_URLS } from "../src/xds/proto/index.ts";
import { buildProxylessRoutes } from "../src/xds/translate/proxyless-routes.ts";
import { buildRoute } from "../src/xds/translate/route.ts";
import { REPO } from "./support/strait-process.ts";

const NONE = { set: [], add: [], remove: [] };
const ALL: RouteMatch = { path: { type: "PathPrefix", value: "/" }, headers: [], queryParams: [] };

function forward(backends: ForwardAction["backends"], extra: Partial<ForwardAction> = {}): ForwardAction {
  return { kind: "forward", backends, mirrors: [], websocket: false, ...extra };
}

function route(name: string, match: Partial<RouteMatch>, action: RouteAction): Route {
  return {
    name: `shop/r/${name}`,
    match: { ...ALL, ...match },
    action,
    requestHeaders: { set: [{ name: "x-a", value: "b" }], add: [], remove: [] },
    responseHeaders: NONE,
    sources: [],
  };
}

/** One of every path, header, action and backend kind the GAMMA translation handles. */
const ROUTES: Route[] = [
  route(
    "exact",
    { path: { type: "Exact", value: "/a.B/C" } },
    forward([{ cluster: "shop/v1:50051", weight: 1 }]),
  ),
  route(
    "headers",
    {
      path: { type: "PathPrefix", value: "/a.B" },
      headers: [
        { name: "x-v", type: "Exact", value: "2" },
        { name: "x-w", type: "RegularExpression", value: "a+" },
      ],
      method: "POST",
    },
    forward([{ cluster: "shop/v2:50051", weight: 1 }], {
      requestTimeout: 2.5,
      retry: { attempts: 2, codes: [] },
    }),
  ),
  route(
    "regex",
    { path: { type: "RegularExpression", value: "/a\\..*/.*" } },
    forward([
      { cluster: "shop/v1:50051", weight: 3 },
      { weight: 1 },
      { cluster: "shop/v2:50051", weight: 0 },
    ]),
  ),
  route("none", {}, forward([{ weight: 1 }])),
  route("redirect", { path: { type: "Exact", value: "/a.B/R" } }, { kind: "redirect", statusCode: 302 }),
  route("direct", { path: { type: "Exact", value: "/a.B/D" } }, { kind: "direct", status: 500, body: "x" }),
  route(
    "rewrite",
    { path: { type: "Exact", value: "/a.B/W" } },
    forward([{ cluster: "shop/v1:50051", weight: 1 }], {
      pathRewrite: { type: "ReplacePrefixMatch", prefix: "/a.B", value: "/c.D" },
    }),
  ),
  route(
    "mirror",
    {},
    forward([{ cluster: "shop/v1:50051", weight: 1 }], {
      mirrors: [{ cluster: "shop/v2:50051", fraction: 0.5 }],
      hostRewrite: "h",
    }),
  ),
];

/** Encodes the route configuration as strait serves it and lets grpc-js-xds decode and validate it. */
function grpcVerdict(routes: readonly unknown[]): string | undefined {
  const json = {
    name: "grpc/shop/cart:50051",
    virtual_hosts: [{ name: "shop/cart:50051", domains: ["*"], routes }],
  };
  const encoded = encodeResource(TYPE_URLS.routeConfiguration, json);
  expect(encoded.issues).toEqual([]);
  const out = execFileSync(process.execPath, [join(REPO, "test/support/grpc-xds-validate-rds.ts")], {
    input: Buffer.from(encoded.bytes as Uint8Array).toString("base64"),
    encoding: "utf8",
  });
  return (JSON.parse(out) as { error?: string }).error;
}

describe("proxyless route configurations, validated by grpc-js-xds", () => {
  it("accepts every route the GAMMA translation makes", () => {
    const built = buildProxylessRoutes(ROUTES);
    expect(built.routes).toHaveLength(ROUTES.length);
    expect(grpcVerdict(built.routes)).toBeUndefined();
  }, 30_000);

  it("refuses the same routes as the gateway's Envoy gets them (why proxyless has its own translation)", () => {
    const verdict = grpcVerdict(ROUTES.map(buildRoute));
    expect(verdict).toContain("unsupported action: redirect");
    expect(verdict).toContain("unsupported action: direct_response");
    expect(verdict).toContain("unsupported path_specifier: path_separated_prefix");
  }, 30_000);
});
