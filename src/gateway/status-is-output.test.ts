/**
 * Status is output, not input (DESIGN.md: the pure stages take the clock and
 * the address allocation as inputs). The gateway stage never reads the
 * status it wrote before: objects carrying any status at all give the same
 * output as objects carrying none, so one pass gives the final status.
 */
import { describe, expect, it } from "vitest";
import { BASE, onePass, statusOf, storeOf } from "../../test/support/gateway-one-pass.ts";
import type { ResourceStore } from "../sources/store.ts";

const INPUT = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: gw, namespace: apps, generation: 1, creationTimestamp: "2026-01-01T00:00:00Z" }
spec:
  gatewayClassName: strait
  allowedListeners: { namespaces: { from: Same } }
  listeners: [{ name: web, protocol: HTTP, port: 80 }]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: other, namespace: apps, generation: 1, creationTimestamp: "2026-01-02T00:00:00Z" }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: ListenerSet
metadata: { name: ls, namespace: apps, generation: 1 }
spec: { parentRef: { name: gw }, listeners: [{ name: extra, protocol: HTTP, port: 81 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: r, namespace: apps, generation: 1 }
spec:
  parentRefs: [{ name: gw }, { kind: ListenerSet, name: ls }]
  rules: [{ backendRefs: [{ name: echo, port: 8080 }] }]
`;

const GARBAGE_CONDITION = {
  type: "Accepted",
  status: "False",
  reason: "Stale",
  message: "from an earlier run",
  observedGeneration: 7,
  lastTransitionTime: "2000-01-01T00:00:00Z",
};

/** The same objects with a stale status of strait's own on each. */
function withStaleStatuses(store: ResourceStore): void {
  for (const kind of ["GatewayClass", "Gateway", "ListenerSet", "HTTPRoute"] as const) {
    for (const obj of store.list(kind)) {
      store.upsert(kind, {
        ...obj,
        status: {
          conditions: [GARBAGE_CONDITION],
          addresses: [{ type: "IPAddress", value: "127.0.1.99" }],
          listeners: [
            { name: "web", attachedRoutes: 42, supportedKinds: [], conditions: [GARBAGE_CONDITION] },
          ],
          parents: [
            {
              parentRef: {
                group: "gateway.networking.k8s.io",
                kind: "Gateway",
                namespace: "apps",
                name: "gw",
              },
              controllerName: "strait.dev/gateway-controller",
              conditions: [GARBAGE_CONDITION],
            },
          ],
        },
      } as never);
    }
  }
}

describe("status is output, not input", () => {
  it("a stale status of strait's own changes nothing in the output", () => {
    const clean = onePass(storeOf(BASE, INPUT));
    const store = storeOf(BASE, INPUT);
    withStaleStatuses(store);
    const stale = onePass(store);
    expect(stale.statuses).toEqual(clean.statuses);
    expect(stale.model).toEqual(clean.model);
  });

  it("writing the statuses back and running again gives the same output", () => {
    const store = storeOf(BASE, INPUT);
    const first = onePass(store);
    for (const s of first.statuses) {
      const obj = store.get(s.ref.kind as "Gateway", s.ref.namespace, s.ref.name);
      if (obj !== undefined) store.upsert(s.ref.kind as "Gateway", { ...obj, status: s.status });
    }
    const second = onePass(store);
    expect(second.statuses).toEqual(first.statuses);
  });

  it("addresses are an input: a Gateway keeps the address it was given, and the output says which", () => {
    const first = onePass(storeOf(BASE, INPUT));
    const given = first.addresses.get("apps/gw");
    expect(given).toMatch(/^127\.0\.1\.\d+$/);
    // Given another address from the pool before, the Gateway keeps that one.
    const kept = onePass(storeOf(BASE, INPUT), { addresses: new Map([["apps/gw", "127.0.1.200"]]) });
    expect(kept.addresses.get("apps/gw")).toBe("127.0.1.200");
    expect((statusOf(kept, "Gateway", "apps", "gw").status.addresses as { value: string }[])[0]?.value).toBe(
      "127.0.1.200",
    );
    // An address outside the pool is not kept: the Gateway gets a fresh one.
    const outside = onePass(storeOf(BASE, INPUT), { addresses: new Map([["apps/gw", "10.9.9.9"]]) });
    expect(outside.addresses.get("apps/gw")).toBe(given);
    // A younger Gateway given the same address does not take it from the older one.
    const clash = onePass(storeOf(BASE, INPUT), {
      addresses: new Map([
        ["apps/gw", "127.0.1.200"],
        ["apps/other", "127.0.1.200"],
      ]),
    });
    expect(clash.addresses.get("apps/gw")).toBe("127.0.1.200");
    expect(clash.addresses.get("apps/other")).not.toBe("127.0.1.200");
  });
});
