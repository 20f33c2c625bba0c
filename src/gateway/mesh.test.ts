/**
 * GAMMA in the gateway stage, beyond the goldens: which Service ports a
 * parentRef takes, and the mesh model kept across passes while its inputs
 * hold, rebuilt when a consumer namespace's pods change.
 */
import { describe, expect, it } from "vitest";
import type { ObjectOf } from "../resources/objects.ts";
import { ResourceStore } from "../sources/store.ts";
import { GatewayCache, translateGateways } from "./index.ts";

const NOW = new Date(0);

function service(
  name: string,
  clusterIP: string,
  ports: { name?: string; port: number; protocol?: string; appProtocol?: string }[],
): ObjectOf<"Service"> {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name, namespace: "app" },
    spec: { clusterIP, ports },
  } as ObjectOf<"Service">;
}

function route(name: string, namespace: string, parent: Record<string, unknown>): ObjectOf<"HTTPRoute"> {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace, generation: 1 },
    spec: {
      parentRefs: [{ group: "", kind: "Service", namespace: "app", ...parent }],
      rules: [{ backendRefs: [{ name: "web", namespace: "app", port: 80 }] }],
    },
  } as ObjectOf<"HTTPRoute">;
}

function pod(name: string, namespace: string, ip: string): ObjectOf<"Pod"> {
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name, namespace },
    status: { podIP: ip, podIPs: [{ ip }] },
  } as ObjectOf<"Pod">;
}

function chainsOf(store: ResourceStore, cache = new GatewayCache()) {
  return translateGateways(store, { now: NOW, addressPool: [], cache }).model.mesh.chains.map((c) =>
    `${c.name} ${c.action.kind} ${c.sourcePrefixes.join(",")}`.trim(),
  );
}

describe("mesh parentRefs", () => {
  it("without port or sectionName take the HTTP ports only (appProtocol, else the port's name)", () => {
    const store = new ResourceStore();
    store.upsert(
      "Service",
      service("web", "10.96.0.5", [
        { name: "http", port: 80 },
        { name: "tls", port: 443 },
        { name: "grpc-api", port: 9000 },
        { name: "metrics", port: 9100, appProtocol: "http" },
        { name: "raw", port: 7000, appProtocol: "kubernetes.io/tcp" },
        { name: "dns", port: 53, protocol: "UDP" },
      ]),
    );
    store.upsert("HTTPRoute", route("r", "app", { name: "web" }));
    expect(chainsOf(store)).toEqual([
      "app/web:443 tcp",
      "app/web:7000 tcp",
      "app/web:80 http",
      "app/web:9000 http",
      "app/web:9100 http",
    ]);
  });

  it("with a port take that port even when it is not HTTP by name", () => {
    const store = new ResourceStore();
    store.upsert("Service", service("web", "10.96.0.5", [{ name: "tls", port: 443 }, { port: 80 }]));
    store.upsert("HTTPRoute", route("r", "app", { name: "web", port: 443 }));
    expect(chainsOf(store)).toEqual(["app/web:443 http", "app/web:80 tcp"]);
  });

  it("skip a Service whose ClusterIP another Service already has (first by name)", () => {
    const store = new ResourceStore();
    store.upsert("Service", service("a", "10.96.0.5", [{ port: 80 }]));
    store.upsert("Service", service("b", "10.96.0.5", [{ port: 80 }]));
    store.upsert("Service", service("v6", "fd00::5", [{ port: 80 }]));
    expect(chainsOf(store)).toEqual(["app/a:80 tcp"]);
  });
});

describe("the mesh model across passes", () => {
  it("is the same object while nothing it reads changed, and follows the consumer namespace's pods", () => {
    const store = new ResourceStore();
    store.upsert("Service", service("web", "10.96.0.5", [{ name: "http", port: 80 }]));
    store.upsert("HTTPRoute", route("consumer", "client", { name: "web" }));
    store.upsert("Pod", pod("c1", "client", "10.244.0.7"));
    const cache = new GatewayCache();
    const first = translateGateways(store, { now: NOW, addressPool: [], cache }).model;
    const second = translateGateways(store, { now: NOW, addressPool: [], cache }).model;
    expect(second.mesh).toBe(first.mesh);
    expect(chainsOf(store, cache)).toEqual([
      "app/web:80 tcp",
      "app/web:80/consumer/client http 10.244.0.7/32",
    ]);
    store.upsert("Pod", pod("c2", "client", "10.244.0.8"));
    expect(chainsOf(store, cache)).toEqual([
      "app/web:80 tcp",
      "app/web:80/consumer/client http 10.244.0.7/32,10.244.0.8/32",
    ]);
    // A consumer namespace with no pod left gets no chain: one without sources would take every client.
    store.delete("Pod", "client", "c1");
    store.delete("Pod", "client", "c2");
    expect(chainsOf(store, cache)).toEqual(["app/web:80 tcp"]);
  });
});
