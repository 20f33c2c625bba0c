import { describe, expect, it } from "vitest";
import { storeOf, TEST_NOW } from "../../test/support/gateway-one-pass.ts";
import { translateGateways } from "../gateway/index.ts";
import type { GatewayModel } from "../model/gateway.ts";
import type { ResourceJsonSet } from "../xds/cache/index.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import type { ProxylessRouteNote } from "../xds/translate/proxyless-routes.ts";
import { proxylessResolver } from "./proxyless-resolver.ts";

const service = (name: string, ip: string) => `
apiVersion: v1
kind: Service
metadata: { name: ${name}, namespace: shop }
spec: { clusterIP: ${ip}, ports: [{ name: grpc, port: 50051, appProtocol: grpc }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: ${name}-1, namespace: shop, labels: { kubernetes.io/service-name: ${name} } }
addressType: IPv4
ports: [{ name: grpc, port: 9000 }]
endpoints: [{ addresses: ["10.0.0.${ip.split(".")[3]}"], conditions: { ready: true } }]
`;

const SERVICES = [service("cart", "10.96.0.1"), service("cart-v2", "10.96.0.2")].join("---\n");

/** A producer route (in shop), a consumer route (in web) and one with a Gateway parent only. */
const ROUTES = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: producer, namespace: shop }
spec:
  parentRefs: [{ group: "", kind: Service, name: cart, port: 50051 }]
  rules:
    - matches: [{ headers: [{ name: x-v, value: "2" }] }]
      backendRefs: [{ name: cart-v2, port: 50051 }]
    - matches: [{ path: { type: Exact, value: /shop.Cart/Old } }]
      filters: [{ type: RequestRedirect, requestRedirect: { hostname: elsewhere } }]
    - backendRefs: [{ name: cart, port: 50051 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: consumer, namespace: web }
spec:
  parentRefs: [{ group: "", kind: Service, name: cart, namespace: shop, port: 50051 }]
  rules:
    - matches: [{ path: { type: Exact, value: /shop.Cart/Web } }]
      backendRefs: [{ name: cart, namespace: shop, port: 50051 }]
---
apiVersion: v1
kind: Pod
metadata: { name: client, namespace: web }
spec: { containers: [{ name: c, image: c }] }
status: { podIP: 10.244.0.7 }
`;

function resolve(model: GatewayModel | undefined, name = "cart.shop.svc.cluster.local:50051", scope = "") {
  const store = storeOf(SERVICES, ROUTES);
  const noted: [string, readonly ProxylessRouteNote[]][] = [];
  const resolver = proxylessResolver(store, {
    model: () => model,
    onNotes: (n, _scope, notes) => noted.push([n, notes]),
  });
  const set = resolver(TYPE_URLS.listener, name, scope) as ResourceJsonSet;
  const routes = set[TYPE_URLS.routeConfiguration]?.get("grpc/shop/cart:50051") as
    | { virtual_hosts: { routes: { name: string; route: unknown }[] }[] }
    | undefined;
  return { set, routes: routes?.virtual_hosts[0]?.routes ?? [], noted };
}

describe("proxyless resolver: a Service port's mesh routes", () => {
  const model = translateGateways(storeOf(SERVICES, ROUTES), { now: TEST_NOW, addressPool: [] }).model;

  it("serves a client of no known namespace the producer routes of the port, not another namespace's consumer routes", () => {
    // The consumer route has its chain on the mesh listener, for web's pod.
    expect(model.mesh.chains.map((c) => c.name)).toContain("shop/cart:50051/consumer/web");
    const { set, routes, noted } = resolve(model);
    // In the Gateway API's precedence, as on the mesh listener: the Exact path before the header match.
    expect(routes.map((r) => r.route)).toEqual([
      { cluster: "strait/proxyless-unsupported/redirect" },
      { cluster: "shop/cart-v2:50051" },
      { cluster: "shop/cart:50051" },
    ]);
    expect([...(set[TYPE_URLS.cluster]?.keys() ?? [])].sort()).toEqual([
      "shop/cart-v2:50051",
      "shop/cart:50051",
      "strait/proxyless-unsupported/redirect",
    ]);
    expect(noted).toEqual([
      [
        "cart.shop.svc.cluster.local:50051",
        [expect.objectContaining({ route: expect.stringMatching(/^shop\/producer\//), kind: "refused" })],
      ],
    ]);
  });

  it("serves a client that names its namespace (NAMESPACE) that namespace's consumer routes", () => {
    expect(resolve(model, undefined, "web").routes).toEqual([
      {
        name: expect.stringMatching(/^web\/consumer\//),
        match: { path: "/shop.Cart/Web" },
        route: { cluster: "shop/cart:50051" },
      },
    ]);
    // A namespace without consumer routes of this Service gets the producer's.
    expect(resolve(model, undefined, "other").routes).toHaveLength(3);
    expect(resolve(model, undefined, "shop").routes).toHaveLength(3);
  });

  it("sends every call to the Service before a model exists, and for a port without mesh routes", () => {
    expect(resolve(undefined).routes).toEqual([
      { name: "shop/cart:50051", match: { prefix: "/" }, route: { cluster: "shop/cart:50051" } },
    ]);
    const other = resolve(model, "cart-v2.shop:50051").set[TYPE_URLS.routeConfiguration]?.get(
      "grpc/shop/cart-v2:50051",
    ) as { virtual_hosts: { routes: unknown[] }[] };
    expect(other.virtual_hosts[0]?.routes).toEqual([
      { name: "shop/cart-v2:50051", match: { prefix: "/" }, route: { cluster: "shop/cart-v2:50051" } },
    ]);
  });
});
