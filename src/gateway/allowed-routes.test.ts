/**
 * Security regression tests: nothing attaches that the owner did not allow.
 * Gateway API spec, Listener.allowedRoutes / AllowedRoutes.namespaces and
 * Gateway.allowedListeners (GEP-1713): `from: Selector` admits "namespaces
 * selected by the selector"; without a selector nothing is selected. A
 * Kubernetes LabelSelector with an invalid requirement selects nothing
 * either (apimachinery refuses to build it). Such a listener is invalid and
 * says so; the route gets Accepted=False/NotAllowedByListeners and is not
 * counted in attachedRoutes.
 */
import { describe, expect, it } from "vitest";
import {
  BASE,
  conditionOf,
  listenerOf,
  onePass,
  parentsOf,
  statusOf,
  storeOf,
} from "../../test/support/gateway-one-pass.ts";

function gatewayWithNamespaces(namespaces: string): string {
  return `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra, generation: 1 }
spec:
  gatewayClassName: strait
  listeners:
  - name: web
    protocol: HTTP
    port: 80
    allowedRoutes: { namespaces: ${namespaces} }
  - name: same
    protocol: HTTP
    port: 8080
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: apps, generation: 1 }
spec:
  parentRefs: [{ name: gw, namespace: infra, sectionName: web }]
  rules: [{ backendRefs: [{ name: echo, port: 8080 }] }]
`;
}

const FAIL_CLOSED = [
  ["from: Selector without a selector", "{ from: Selector }", /no selector is given/],
  [
    "an unknown operator",
    "{ from: Selector, selector: { matchExpressions: [{ key: tier, operator: Like, values: [a] }] } }",
    /operator Like/,
  ],
  [
    "In without values",
    "{ from: Selector, selector: { matchExpressions: [{ key: tier, operator: In, values: [] }] } }",
    /needs values/,
  ],
  [
    "NotIn without values (would match every namespace)",
    "{ from: Selector, selector: { matchExpressions: [{ key: tier, operator: NotIn }] } }",
    /needs values/,
  ],
  [
    "DoesNotExist with values",
    "{ from: Selector, selector: { matchExpressions: [{ key: tier, operator: DoesNotExist, values: [x] }] } }",
    /takes no values/,
  ],
] as const;

describe("allowedRoutes fails closed", () => {
  it.each(FAIL_CLOSED)("%s admits nothing and the listener says why", (_name, namespaces, why) => {
    const out = onePass(storeOf(BASE, gatewayWithNamespaces(namespaces)));
    const gw = statusOf(out, "Gateway", "infra", "gw");
    const web = listenerOf(gw, "web");
    expect(web.attachedRoutes).toBe(0);
    expect(conditionOf(web.conditions, "Accepted")).toMatchObject({
      status: "False",
      reason: "UnsupportedValue",
    });
    expect(conditionOf(web.conditions, "Accepted")?.message).toMatch(why);
    expect(conditionOf(web.conditions, "Programmed")).toMatchObject({ status: "False" });
    // The Gateway's other listener keeps serving.
    expect(conditionOf(gw.status.conditions, "Accepted")).toMatchObject({
      status: "True",
      reason: "ListenersNotValid",
    });
    const [parent] = parentsOf(statusOf(out, "HTTPRoute", "apps", "r"));
    expect(conditionOf(parent?.conditions, "Accepted")).toMatchObject({
      status: "False",
      reason: "NotAllowedByListeners",
    });
    // Nothing of the route is served.
    expect(out.model.routeTables.flatMap((t) => t.virtualHosts.flatMap((v) => v.routes))).toEqual([]);
  });

  it("a selector that is written admits what it selects, and only that", () => {
    const allowed = onePass(
      storeOf(BASE, gatewayWithNamespaces("{ from: Selector, selector: { matchLabels: { tier: infra } } }")),
    );
    expect(listenerOf(statusOf(allowed, "Gateway", "infra", "gw"), "web").attachedRoutes).toBe(0);
    const byName = onePass(
      storeOf(
        BASE,
        gatewayWithNamespaces(
          "{ from: Selector, selector: { matchExpressions: [{ key: kubernetes.io/metadata.name, operator: In, values: [apps] }] } }",
        ),
      ),
    );
    expect(listenerOf(statusOf(byName, "Gateway", "infra", "gw"), "web").attachedRoutes).toBe(1);
  });

  it("an empty selector ({}) selects every namespace, as a Kubernetes LabelSelector does", () => {
    const out = onePass(storeOf(BASE, gatewayWithNamespaces("{ from: Selector, selector: {} }")));
    expect(listenerOf(statusOf(out, "Gateway", "infra", "gw"), "web").attachedRoutes).toBe(1);
  });

  it("a route from another namespace does not attach to a listener left at the default (Same)", () => {
    const out = onePass(
      storeOf(BASE, gatewayWithNamespaces("{ from: Same }").replace("sectionName: web", "sectionName: same")),
    );
    expect(listenerOf(statusOf(out, "Gateway", "infra", "gw"), "same").attachedRoutes).toBe(0);
    const [parent] = parentsOf(statusOf(out, "HTTPRoute", "apps", "r"));
    expect(conditionOf(parent?.conditions, "Accepted")?.reason).toBe("NotAllowedByListeners");
  });
});

describe("allowedListeners fails closed", () => {
  const listenerSet = (allowed: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: infra, generation: 1 }
spec:
  gatewayClassName: strait
  allowedListeners: { namespaces: ${allowed} }
  listeners: [{ name: web, protocol: HTTP, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: { name: ls, namespace: apps, generation: 1 }
spec:
  parentRef: { name: gw, namespace: infra }
  listeners: [{ name: extra, protocol: HTTP, port: 81, allowedRoutes: { namespaces: { from: Same } } }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: apps, generation: 1 }
spec:
  parentRefs: [{ kind: ListenerSet, name: ls }]
  rules: [{ backendRefs: [{ name: echo, port: 8080 }] }]
`;

  it("from: Selector without a selector lets no ListenerSet in, and says why", () => {
    const out = onePass(storeOf(BASE, listenerSet("{ from: Selector }")));
    const ls = statusOf(out, "ListenerSet", "apps", "ls");
    expect(conditionOf(ls.status.conditions, "Accepted")).toMatchObject({
      status: "False",
      reason: "NotAllowed",
    });
    expect(conditionOf(ls.status.conditions, "Accepted")?.message).toMatch(/no selector is given/);
    expect(statusOf(out, "Gateway", "infra", "gw").status.attachedListenerSets).toBe(0);
    expect(out.model.ports.map((p) => p.port)).toEqual([80]);
  });

  it("a selector that matches lets the ListenerSet in", () => {
    const out = onePass(
      storeOf(
        BASE,
        listenerSet("{ from: Selector, selector: { matchLabels: { kubernetes.io/metadata.name: apps } } }"),
      ),
    );
    expect(statusOf(out, "Gateway", "infra", "gw").status.attachedListenerSets).toBe(1);
    expect(out.model.ports.map((p) => p.port).sort()).toEqual([80, 81]);
  });
});
