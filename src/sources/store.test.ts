import { describe, expect, it } from "vitest";
import { parentIndexKey } from "../resources/indexes.ts";
import type { ObjectOf } from "../resources/objects.ts";
import { ResourceStore, type StoreChange } from "./store.ts";

function route(
  ns: string,
  name: string,
  parents: { name: string; namespace?: string }[],
): ObjectOf<"HTTPRoute"> {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: ns },
    spec: { parentRefs: parents },
  };
}

function slice(ns: string, name: string, service: string): ObjectOf<"EndpointSlice"> {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: ns, labels: { "kubernetes.io/service-name": service } },
    addressType: "IPv4",
    endpoints: [],
  };
}

describe("ResourceStore", () => {
  it("stores, lists sorted by namespace then name, and deletes", () => {
    const store = new ResourceStore();
    store.upsert("HTTPRoute", route("b", "r1", []));
    store.upsert("HTTPRoute", route("a", "r2", []));
    store.upsert("HTTPRoute", route("a", "r1", []));
    expect(store.list("HTTPRoute").map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toEqual([
      "a/r1",
      "a/r2",
      "b/r1",
    ]);
    expect(store.list("HTTPRoute", "a")).toHaveLength(2);
    expect(store.get("HTTPRoute", "b", "r1")?.metadata.name).toBe("r1");
    expect(store.delete("HTTPRoute", "b", "r1")).toBe(true);
    expect(store.delete("HTTPRoute", "b", "r1")).toBe(false);
    expect(store.list("HTTPRoute").map((r) => r.metadata.name)).toEqual(["r1", "r2"]);
    expect(store.counts().HTTPRoute).toBe(2);
  });

  it("ignores writes that change nothing, so resyncs cause no reconcile", () => {
    const store = new ResourceStore();
    const changes: StoreChange[] = [];
    store.subscribe((c) => changes.push(c));
    expect(store.upsert("HTTPRoute", route("a", "r", [{ name: "gw" }]))).toBe(true);
    expect(store.upsert("HTTPRoute", route("a", "r", [{ name: "gw" }]))).toBe(false);
    expect(store.upsert("HTTPRoute", route("a", "r", [{ name: "gw2" }]))).toBe(true);
    expect(changes.map((c) => c.type)).toEqual(["upsert", "upsert"]);
  });

  it("indexes routes by parent and follows parent changes", () => {
    const store = new ResourceStore();
    store.upsert("HTTPRoute", route("app", "r1", [{ name: "gw", namespace: "infra" }]));
    store.upsert("HTTPRoute", route("infra", "r2", [{ name: "gw" }]));
    store.upsert("HTTPRoute", route("infra", "r3", [{ name: "other" }]));
    const key = parentIndexKey("gateway.networking.k8s.io", "Gateway", "infra", "gw");
    expect(store.byIndex("routesByParent", key).map((r) => r.metadata.name)).toEqual(["r1", "r2"]);
    store.upsert("HTTPRoute", route("infra", "r2", [{ name: "other" }]));
    expect(store.byIndex("routesByParent", key).map((r) => r.metadata.name)).toEqual(["r1"]);
    store.delete("HTTPRoute", "app", "r1");
    expect(store.byIndex("routesByParent", key)).toEqual([]);
  });

  it("indexes EndpointSlices by Service", () => {
    const store = new ResourceStore();
    store.upsert("EndpointSlice", slice("ns", "web-abc", "web"));
    store.upsert("EndpointSlice", slice("ns", "web-def", "web"));
    store.upsert("EndpointSlice", slice("other", "web-x", "web"));
    expect(store.byIndex("endpointSlicesByService", "ns/web").map((s) => s.metadata.name)).toEqual([
      "web-abc",
      "web-def",
    ]);
  });

  it("replaceKind upserts what changed and deletes what is gone", () => {
    const store = new ResourceStore();
    store.upsert("HTTPRoute", route("a", "keep", []));
    store.upsert("HTTPRoute", route("a", "gone", []));
    const n = store.replaceKind("HTTPRoute", [route("a", "keep", []), route("a", "new", [])]);
    expect(n).toBe(2);
    expect(store.list("HTTPRoute").map((r) => r.metadata.name)).toEqual(["keep", "new"]);
  });

  it("does not break on a malformed object that an index cannot read", () => {
    const store = new ResourceStore();
    const bad = {
      ...route("a", "bad", []),
      spec: { parentRefs: "nope" },
    } as unknown as ObjectOf<"HTTPRoute">;
    expect(store.upsert("HTTPRoute", bad)).toBe(true);
    expect(store.get("HTTPRoute", "a", "bad")).toBeDefined();
  });

  it("replaces an object in its sorted lists without disturbing other namespaces' lists", () => {
    const store = new ResourceStore();
    for (const ns of ["a", "b", "c"])
      for (const n of ["r1", "r2", "r3"]) store.upsert("HTTPRoute", route(ns, n, []));
    const all = store.list("HTTPRoute");
    const inA = store.list("HTTPRoute", "a");
    const inB = store.list("HTTPRoute", "b");
    const replaced = route("b", "r2", [{ name: "gw" }]);
    store.upsert("HTTPRoute", replaced);
    expect(store.list("HTTPRoute")).not.toBe(all);
    expect(store.list("HTTPRoute")[4]).toBe(replaced);
    expect(store.list("HTTPRoute").map((r) => `${r.metadata.namespace}/${r.metadata.name}`)).toEqual(
      all.map((r) => `${r.metadata.namespace}/${r.metadata.name}`),
    );
    expect(store.list("HTTPRoute", "a")).toBe(inA);
    expect(store.list("HTTPRoute", "b")).not.toBe(inB);
    expect(store.list("HTTPRoute", "b")[1]).toBe(replaced);
    store.upsert("HTTPRoute", route("b", "r0", []));
    expect(store.list("HTTPRoute", "b").map((r) => r.metadata.name)).toEqual(["r0", "r1", "r2", "r3"]);
  });

  it("keeps an object's spec identity across status-only changes, and only those", () => {
    const store = new ResourceStore();
    const first = route("a", "r1", []);
    store.upsert("HTTPRoute", first);
    const withStatus = { ...first, status: { parents: [] } } as ObjectOf<"HTTPRoute">;
    store.upsert("HTTPRoute", withStatus);
    expect(store.specIdentity("HTTPRoute", withStatus)).toBe(first);
    const withStatus2 = { ...first, status: { parents: [{ controllerName: "x" }] } } as never;
    store.upsert("HTTPRoute", withStatus2);
    expect(store.specIdentity("HTTPRoute", withStatus2)).toBe(first);
    const edited = route("a", "r1", [{ name: "gw" }]);
    store.upsert("HTTPRoute", edited);
    expect(store.specIdentity("HTTPRoute", edited)).toBe(edited);
  });
});
