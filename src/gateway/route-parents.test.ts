/**
 * Every route that names a parent of ours gets a parent status for it, also
 * when strait rejected that parent (Gateway API spec, RouteStatus.parents:
 * "a list of parent resources ... that are associated with the route, and
 * the status of the route with respect to each parent"; the controller of a
 * parent MUST add an entry). A parent strait rejected admits no route:
 * Accepted=False, reason NotAllowedByListeners, saying which parent and why.
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

const ROUTE_TO = (parentRefs: string) => `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: apps, generation: 1 }
spec:
  parentRefs: ${parentRefs}
  rules: [{ backendRefs: [{ name: echo, port: 8080 }] }]
`;

const GATEWAY = (extra = "") => `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps, generation: 1 }
spec:
  gatewayClassName: strait
  ${extra}
  listeners:
  - { name: web, protocol: HTTP, port: 80 }
  - { name: web-again, protocol: HTTPS, port: 80, tls: { certificateRefs: [{ name: missing }] } }
`;

function acceptedOfOnlyParent(out: ReturnType<typeof onePass>) {
  const parents = parentsOf(statusOf(out, "HTTPRoute", "apps", "r"));
  expect(parents).toHaveLength(1);
  return conditionOf(parents[0]?.conditions, "Accepted");
}

describe("routes whose parent strait rejected", () => {
  it("a ListenerSet the Gateway does not allow", () => {
    const out = onePass(
      storeOf(
        BASE,
        GATEWAY(),
        `apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: { name: ls, namespace: apps, generation: 1 }
spec: { parentRef: { name: gw }, listeners: [{ name: extra, protocol: HTTP, port: 81 }] }`,
        ROUTE_TO("[{ kind: ListenerSet, name: ls }]"),
      ),
    );
    const accepted = acceptedOfOnlyParent(out);
    expect(accepted).toMatchObject({ status: "False", reason: "NotAllowedByListeners" });
    expect(accepted?.message).toMatch(/ListenerSet apps\/ls is not accepted/);
  });

  it("a ListenerSet whose listeners are all invalid", () => {
    const out = onePass(
      storeOf(
        BASE,
        GATEWAY("allowedListeners: { namespaces: { from: Same } }"),
        `apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: { name: ls, namespace: apps, generation: 1 }
spec: { parentRef: { name: gw }, listeners: [{ name: extra, protocol: UDP, port: 81 }] }`,
        ROUTE_TO("[{ kind: ListenerSet, name: ls }]"),
      ),
    );
    expect(acceptedOfOnlyParent(out)).toMatchObject({ status: "False", reason: "NotAllowedByListeners" });
    expect(
      conditionOf(statusOf(out, "ListenerSet", "apps", "ls").status.conditions, "Accepted")?.reason,
    ).toBe("ListenersNotValid");
  });

  it("a listener that is Conflicted, named by sectionName", () => {
    const out = onePass(storeOf(BASE, GATEWAY(), ROUTE_TO("[{ name: gw, sectionName: web-again }]")));
    expect(acceptedOfOnlyParent(out)).toMatchObject({ status: "False", reason: "NotAllowedByListeners" });
    expect(listenerOf(statusOf(out, "Gateway", "apps", "gw"), "web-again").attachedRoutes).toBe(0);
  });

  it("a Gateway that is not accepted (unsupported address type)", () => {
    const out = onePass(
      storeOf(
        BASE,
        GATEWAY("addresses: [{ type: Hostname, value: gw.example }]"),
        ROUTE_TO("[{ name: gw }]"),
      ),
    );
    expect(conditionOf(statusOf(out, "Gateway", "apps", "gw").status.conditions, "Accepted")?.status).toBe(
      "False",
    );
    const accepted = acceptedOfOnlyParent(out);
    expect(accepted).toMatchObject({ status: "False", reason: "NotAllowedByListeners" });
    expect(accepted?.message).toMatch(/Gateway apps\/gw is not accepted/);
    expect(listenerOf(statusOf(out, "Gateway", "apps", "gw"), "web").attachedRoutes).toBe(0);
  });

  it("a parent of another controller gets no entry from strait", () => {
    const out = onePass(
      storeOf(
        BASE,
        `apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: other }
spec: { controllerName: example.com/other }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: theirs, namespace: apps, generation: 1 }
spec: { gatewayClassName: other, listeners: [{ name: web, protocol: HTTP, port: 80 }] }`,
        GATEWAY(),
        ROUTE_TO("[{ name: theirs }, { name: gw, sectionName: web }]"),
      ),
    );
    const parents = parentsOf(statusOf(out, "HTTPRoute", "apps", "r"));
    expect(parents.map((p) => p.parentRef.name)).toEqual(["gw"]);
    expect(conditionOf(parents[0]?.conditions, "Accepted")?.status).toBe("True");
  });
});
