import { describe, expect, it } from "vitest";
import type { ServiceBackend } from "../../model/backend.ts";
import { encodeResource, TYPE_URLS } from "../proto/index.ts";
import { buildProxylessResources, parseServiceTarget } from "./proxyless.ts";

const backend: ServiceBackend = {
  kind: "Service",
  clusterName: "shop/cart:50051",
  namespace: "shop",
  service: "cart",
  port: 50051,
  protocol: "http2",
  endpoints: [
    { address: "10.0.0.1", port: 9000, zone: "a" },
    { address: "10.0.0.2", port: 9000, zone: "b" },
  ],
  sources: [{ group: "", kind: "Service", namespace: "shop", name: "cart" }],
};

describe("proxyless gRPC targets", () => {
  it("parses the names of a Service in every form Kubernetes DNS gives it", () => {
    expect(parseServiceTarget("cart.shop.svc.cluster.local:50051")).toEqual({
      namespace: "shop",
      service: "cart",
      port: 50051,
    });
    expect(parseServiceTarget("cart.shop.svc:50051")).toEqual({
      namespace: "shop",
      service: "cart",
      port: 50051,
    });
    expect(parseServiceTarget("cart.shop:50051")).toEqual({
      namespace: "shop",
      service: "cart",
      port: 50051,
    });
    expect(parseServiceTarget("Cart.Shop.svc.cluster.local.")).toEqual({
      namespace: "shop",
      service: "cart",
    });
    expect(parseServiceTarget("cart.shop.svc.example.org:1", "example.org")).toEqual({
      namespace: "shop",
      service: "cart",
      port: 1,
    });
  });

  it("does not take other names for Services", () => {
    for (const name of [
      "shop/gw/http",
      "cart",
      "cart.shop.svc.other.domain:80",
      "cart.shop.example.com:80",
      "cart.shop:0",
      "cart.shop:70000",
      "-cart.shop:80",
      "cart_x.shop:80",
      "cart.shop:80:80",
    ]) {
      expect(parseServiceTarget(name), name).toBeUndefined();
    }
  });

  it("builds an API listener with RDS and the router, a catch-all route, and the Service's EDS cluster", () => {
    const set = buildProxylessResources("cart.shop.svc.cluster.local:50051", backend).resources;
    const listener = set[TYPE_URLS.listener].get("cart.shop.svc.cluster.local:50051");
    const hcm =
      (listener?.api_listener as { api_listener: Record<string, unknown> } | undefined)?.api_listener ?? {};
    expect(hcm.rds).toEqual({
      route_config_name: "grpc/shop/cart:50051",
      config_source: { ads: {}, resource_api_version: "V3" },
    });
    expect((hcm.http_filters as { name: string }[]).map((f) => f.name)).toEqual([
      "envoy.filters.http.router",
    ]);
    const route = set[TYPE_URLS.routeConfiguration].get("grpc/shop/cart:50051");
    expect(route?.virtual_hosts).toEqual([
      {
        name: "shop/cart:50051",
        domains: ["*"],
        routes: [{ name: "shop/cart:50051", match: { prefix: "/" }, route: { cluster: "shop/cart:50051" } }],
      },
    ]);
    expect(set[TYPE_URLS.cluster].get("shop/cart:50051")).toMatchObject({
      type: "EDS",
      lb_policy: "ROUND_ROBIN",
    });
    const cla = set[TYPE_URLS.clusterLoadAssignment].get("shop/cart:50051") as { endpoints: unknown[] };
    expect(cla.endpoints).toHaveLength(2);
    // Every resource passes the strict encoder (what the cache publishes).
    for (const [typeUrl, resources] of Object.entries(set)) {
      for (const [name, json] of resources) expect(encodeResource(typeUrl, json).issues, name).toEqual([]);
    }
  });
});
