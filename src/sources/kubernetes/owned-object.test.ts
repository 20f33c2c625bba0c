import { describe, expect, it } from "vitest";
import { runPipeline } from "../../controller/pipeline.ts";
import type { KindName } from "../../resources/kinds.ts";
import type { ObjectOf } from "../../resources/objects.ts";
import { ResourceStore } from "../store.ts";
import { applyBody, holds, isManagedByStrait } from "./owned-object.ts";

describe("owned objects", () => {
  it("recognizes what the gateway stage creates as strait's own, and nothing with only one of the labels", () => {
    const store = new ResourceStore();
    const put = <K extends KindName>(kind: K, obj: unknown) => store.upsert(kind, obj as ObjectOf<K>);
    put("GatewayClass", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "strait" },
      spec: { controllerName: "strait.dev/gateway-controller" },
    });
    put("Gateway", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "edge", namespace: "infra", uid: "u-1" },
      spec: { gatewayClassName: "strait", listeners: [{ name: "http", protocol: "HTTP", port: 80 }] },
    });
    const [svc] = runPipeline(store, { now: new Date(0), addressPool: ["10.0.0.0/24"] }).ownedObjects;
    expect(isManagedByStrait(svc?.metadata.labels)).toBe(true);
    expect(isManagedByStrait({ "app.kubernetes.io/managed-by": "strait" })).toBe(false);
    expect(isManagedByStrait({ "gateway.networking.k8s.io/gateway-name": "edge" })).toBe(false);
    expect(isManagedByStrait(undefined)).toBe(false);
  });

  it("applies without empty maps and without owner references that have no uid", () => {
    const { body, droppedOwnerReferences } = applyBody({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "a",
        namespace: "n",
        labels: { x: "1" },
        annotations: {},
        ownerReferences: [
          { kind: "Gateway", name: "g", uid: "" },
          { kind: "Gateway", name: "h", uid: "u" },
        ],
      },
      spec: { type: "LoadBalancer" },
    });
    expect(body).toEqual({
      apiVersion: "v1",
      kind: "Service",
      metadata: {
        name: "a",
        namespace: "n",
        labels: { x: "1" },
        ownerReferences: [{ kind: "Gateway", name: "h", uid: "u" }],
      },
      spec: { type: "LoadBalancer" },
    });
    expect(droppedOwnerReferences).toBe(1);
  });

  it("counts what the server or other clients add as no difference, and any changed or missing field strait sets as one", () => {
    const desired = {
      metadata: { labels: { a: "1" } },
      spec: { type: "LoadBalancer", ports: [{ port: 80, protocol: "TCP" }] },
    };
    const live = {
      metadata: { labels: { a: "1", other: "2" }, resourceVersion: "5" },
      spec: {
        type: "LoadBalancer",
        clusterIP: "10.96.0.1",
        ports: [
          { port: 443, protocol: "TCP", nodePort: 30001 },
          { port: 80, protocol: "TCP", nodePort: 30000 },
        ],
      },
    };
    expect(holds(live, desired)).toBe(true);
    expect(holds({ ...live, spec: { ...live.spec, type: "ClusterIP" } }, desired)).toBe(false);
    expect(holds({ ...live, metadata: { labels: { a: "2" } } }, desired)).toBe(false);
    expect(holds({ ...live, spec: { ...live.spec, ports: [{ port: 443, protocol: "TCP" }] } }, desired)).toBe(
      false,
    );
    expect(holds({ spec: {} }, { metadata: { annotations: {} }, spec: {} })).toBe(true);
  });
});
