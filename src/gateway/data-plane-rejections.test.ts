import { describe, expect, it } from "vitest";
import { runPipeline } from "../controller/pipeline.ts";
import type { AnyStoredObject } from "../resources/objects.ts";
import { parseManifestText } from "../sources/manifests.ts";
import { ResourceStore } from "../sources/store.ts";

const MANIFESTS = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: strait }
spec: { controllerName: strait.dev/gateway-controller }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: a, namespace: ns, generation: 1 }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: { name: b, namespace: ns, generation: 1 }
spec: { gatewayClassName: strait, listeners: [{ name: web, protocol: HTTP, port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: s, namespace: ns }
spec: { ports: [{ port: 80 }] }
---
apiVersion: v1
kind: Service
metadata: { name: t, namespace: ns }
spec: { ports: [{ port: 80 }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: on-a, namespace: ns, generation: 1 }
spec: { parentRefs: [{ name: a }], rules: [{ backendRefs: [{ name: s, port: 80 }] }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: on-a-to-t, namespace: ns, generation: 1 }
spec: { parentRefs: [{ name: a }], hostnames: [t.example.com], rules: [{ backendRefs: [{ name: t, port: 80 }] }] }
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: { name: on-b, namespace: ns, generation: 1 }
spec: { parentRefs: [{ name: b }], rules: [{ backendRefs: [{ name: s, port: 80 }] }] }
`;

const NOW = new Date("2026-12-02T00:00:00Z");

function store(): ResourceStore {
  const s = new ResourceStore();
  for (const o of parseManifestText("test.yaml", MANIFESTS).objects)
    s.upsert(o.kind, o.object as AnyStoredObject);
  return s;
}

type Status = {
  listeners?: { conditions: { type: string; status: string; reason: string; message: string }[] }[];
};
type RouteStatus = {
  parents: { conditions: { type: string; status: string; reason: string; message: string }[] }[];
};

function statusOf(out: ReturnType<typeof runPipeline>, kind: string, name: string) {
  return out.statuses.find((s) => s.ref.kind === kind && s.ref.name === name)?.status;
}

describe("Envoy's rejections in status", () => {
  const view = store();
  const pool = ["10.1.0.0/24"];

  it("a refused route table: its listener is not Programmed and each of its routes says why; Gateway b is untouched", () => {
    const out = runPipeline(view, {
      now: NOW,
      addressPool: pool,
      rejections: [{ resource: "route", name: "ns/a/80", message: "duplicate domain x" }],
    });
    const a = statusOf(out, "Gateway", "a") as Status;
    expect(a.listeners?.[0]?.conditions.find((c) => c.type === "Programmed")).toMatchObject({
      status: "False",
      reason: "Invalid",
      message: "Envoy rejected route ns/a/80: duplicate domain x",
    });
    for (const name of ["on-a", "on-a-to-t"]) {
      const route = statusOf(out, "HTTPRoute", name) as RouteStatus;
      expect(route.parents[0]?.conditions.find((c) => c.type === "strait.dev/Programmed")).toMatchObject({
        status: "False",
        reason: "RejectedByDataPlane",
      });
    }
    const clean = runPipeline(view, { now: NOW, addressPool: pool });
    expect(statusOf(out, "Gateway", "b")).toEqual(statusOf(clean, "Gateway", "b"));
    expect(statusOf(out, "HTTPRoute", "on-b")).toEqual(statusOf(clean, "HTTPRoute", "on-b"));
  });

  it("a refused cluster marks the routes sending to it, on every Gateway, and no listener", () => {
    const out = runPipeline(view, {
      now: NOW,
      addressPool: pool,
      rejections: [{ resource: "cluster", name: "ns/t:80", message: "bad cluster" }],
    });
    const clean = runPipeline(view, { now: NOW, addressPool: pool });
    const marked = (name: string) =>
      (statusOf(out, "HTTPRoute", name) as RouteStatus).parents[0]?.conditions.some(
        (c) => c.type === "strait.dev/Programmed",
      );
    expect(marked("on-a-to-t")).toBe(true);
    expect(marked("on-a")).toBe(false);
    expect(statusOf(out, "Gateway", "a")).toEqual(statusOf(clean, "Gateway", "a"));
  });

  it("a route table strait withheld (fails strict encoding) says so, not that Envoy rejected it", () => {
    const out = runPipeline(view, {
      now: NOW,
      addressPool: pool,
      rejections: [
        {
          resource: "route",
          name: "ns/a/80",
          message:
            "withheld by strait, not sent to any node: it fails strict encoding (a translator bug): bad",
          withheld: true,
        },
      ],
    });
    const a = statusOf(out, "Gateway", "a") as Status;
    expect(a.listeners?.[0]?.conditions.find((c) => c.type === "Programmed")).toMatchObject({
      status: "False",
      reason: "Invalid",
      message:
        "route ns/a/80 withheld by strait, not sent to any node: it fails strict encoding (a translator bug): bad",
    });
    const route = statusOf(out, "HTTPRoute", "on-a") as RouteStatus;
    expect(route.parents[0]?.conditions.find((c) => c.type === "strait.dev/Programmed")).toMatchObject({
      status: "False",
      reason: "WithheldFailedEncoding",
    });
    const clean = runPipeline(view, { now: NOW, addressPool: pool });
    expect(statusOf(out, "Gateway", "b")).toEqual(statusOf(clean, "Gateway", "b"));
  });
});
