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

describe("a mesh route that loses a Gateway listener to a GRPCRoute", () => {
  it("keeps its Service parent's status", () => {
    const store = new ResourceStore();
    store.upsert("GatewayClass", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: "strait" },
      spec: { controllerName: "strait.dev/gateway-controller" },
    } as ObjectOf<"GatewayClass">);
    store.upsert("Gateway", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: { name: "gw", namespace: "app" },
      spec: { gatewayClassName: "strait", listeners: [{ name: "http", protocol: "HTTP", port: 80 }] },
    } as ObjectOf<"Gateway">);
    store.upsert("Service", service("web", "10.96.0.5", [{ name: "http", port: 80 }]));
    store.upsert("GRPCRoute", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GRPCRoute",
      metadata: { name: "grpc", namespace: "app", creationTimestamp: "2020-01-01T00:00:00Z" },
      spec: { parentRefs: [{ name: "gw" }], rules: [{ backendRefs: [{ name: "web", port: 80 }] }] },
    } as ObjectOf<"GRPCRoute">);
    const both = route("both", "app", { name: "web" });
    store.upsert("HTTPRoute", {
      ...both,
      metadata: { ...both.metadata, creationTimestamp: "2021-01-01T00:00:00Z" },
      spec: { ...both.spec, parentRefs: [{ name: "gw" }, ...(both.spec?.parentRefs ?? [])] },
    } as ObjectOf<"HTTPRoute">);
    const { statuses } = translateGateways(store, { now: NOW, addressPool: ["127.0.1.0/24"] });
    const status = statuses.find((s) => s.ref.kind === "HTTPRoute")?.status as
      | { parents: { parentRef: { kind: string }; conditions: { type: string; status: string }[] }[] }
      | undefined;
    const parents = status?.parents ?? [];
    const accepted = (kind: string) =>
      parents.find((p) => p.parentRef.kind === kind)?.conditions.find((c) => c.type === "Accepted")?.status;
    expect(accepted("Gateway")).toBe("False");
    expect(accepted("Service")).toBe("True");
  });
});

function grpcRoute(name: string, parent: Record<string, unknown>): ObjectOf<"GRPCRoute"> {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GRPCRoute",
    metadata: { name, namespace: "app", generation: 1 },
    spec: {
      parentRefs: [{ group: "", kind: "Service", ...parent }],
      rules: [{ backendRefs: [{ name: "web", port: 7070 }] }],
    },
  } as ObjectOf<"GRPCRoute">;
}

function conditionsOf(
  statuses: readonly { ref: { kind: string; name: string }; status: unknown }[],
  name: string,
) {
  const status = statuses.find((s) => s.ref.name === name)?.status as
    | {
        parents: {
          parentRef: { port?: number };
          conditions: { type: string; status: string; reason: string }[];
        }[];
      }
    | undefined;
  return (status?.parents ?? []).map((p) => {
    const accepted = p.conditions.find((c) => c.type === "Accepted");
    return `${p.parentRef.port ?? "*"} ${accepted?.status} ${accepted?.reason}`;
  });
}

describe("GRPCRoutes with a Service parent (GAMMA)", () => {
  const ports = [
    { name: "http", port: 80, appProtocol: "http" },
    { name: "grpc", port: 7070, appProtocol: "grpc" },
  ];

  it("are accepted and give the port an HTTP chain whose route table sends to the HTTP/2 cluster", () => {
    const store = new ResourceStore();
    store.upsert("Service", service("web", "10.96.0.5", ports));
    store.upsert("GRPCRoute", grpcRoute("g", { name: "web", port: 7070 }));
    const out = translateGateways(store, { now: NOW, addressPool: [] });
    expect(conditionsOf(out.statuses, "g")).toEqual(["7070 True Accepted"]);
    expect(chainsOf(store)).toEqual(["app/web:7070 http", "app/web:80 tcp"]);
    const table = out.model.routeTables.find((t) => t.name === "strait/mesh/app/web:7070");
    expect(JSON.stringify(table)).toContain("app/web:7070");
  });

  it("take a port from an HTTPRoute there: one route type per port, GRPCRoute first (GEP-1426)", () => {
    const store = new ResourceStore();
    store.upsert("Service", service("web", "10.96.0.5", ports));
    store.upsert("GRPCRoute", grpcRoute("g", { name: "web", port: 7070 }));
    // Only that port: not accepted, Conflicted.
    store.upsert("HTTPRoute", route("only-grpc-port", "app", { name: "web", port: 7070 }));
    // Every HTTP port (80 and the grpc one): keeps 80, stays accepted.
    store.upsert("HTTPRoute", route("all-ports", "app", { name: "web" }));
    const out = translateGateways(store, { now: NOW, addressPool: [] });
    expect(conditionsOf(out.statuses, "only-grpc-port")).toEqual(["7070 False Conflicted"]);
    expect(conditionsOf(out.statuses, "all-ports")).toEqual(["* True Accepted"]);
    expect(conditionsOf(out.statuses, "g")).toEqual(["7070 True Accepted"]);
    const tables = new Map(out.model.routeTables.map((t) => [t.name, JSON.stringify(t)]));
    // The grpc port's table has the GRPCRoute's backend only; port 80 the HTTPRoute's.
    // (appProtocol grpc: the Service port's own cluster already speaks HTTP/2, no `~h2` variant)
    expect(tables.get("strait/mesh/app/web:7070")).toContain('"cluster":"app/web:7070"');
    expect(tables.get("strait/mesh/app/web:7070")).not.toContain("app/web:80");
    expect(tables.get("strait/mesh/app/web:80")).toContain("app/web:80");
  });

  it("without a GRPCRoute there, HTTPRoutes on the port merge as before", () => {
    const store = new ResourceStore();
    store.upsert("Service", service("web", "10.96.0.5", ports));
    store.upsert("HTTPRoute", route("a", "app", { name: "web", port: 7070 }));
    store.upsert("HTTPRoute", route("b", "app", { name: "web", port: 7070 }));
    const out = translateGateways(store, { now: NOW, addressPool: [] });
    expect(conditionsOf(out.statuses, "a")).toEqual(["7070 True Accepted"]);
    expect(conditionsOf(out.statuses, "b")).toEqual(["7070 True Accepted"]);
  });

  it("to a Service without that port are not accepted (NoMatchingParent), as HTTPRoutes", () => {
    const store = new ResourceStore();
    store.upsert("Service", service("web", "10.96.0.5", ports));
    store.upsert("GRPCRoute", grpcRoute("g", { name: "web", port: 9999 }));
    store.upsert("GRPCRoute", grpcRoute("missing", { name: "nope" }));
    const out = translateGateways(store, { now: NOW, addressPool: [] });
    expect(conditionsOf(out.statuses, "g")).toEqual(["9999 False NoMatchingParent"]);
    expect(conditionsOf(out.statuses, "missing")).toEqual(["* False NoMatchingParent"]);
  });

  it("take the port per consumer namespace: a consumer GRPCRoute does not touch the producer HTTPRoute", () => {
    const store = new ResourceStore();
    store.upsert("Service", service("web", "10.96.0.5", ports));
    store.upsert("Pod", pod("c1", "client", "10.244.0.7"));
    store.upsert("HTTPRoute", route("producer", "app", { name: "web", port: 7070 }));
    const consumer = grpcRoute("consumer", { name: "web", namespace: "app", port: 7070 });
    store.upsert("GRPCRoute", { ...consumer, metadata: { ...consumer.metadata, namespace: "client" } });
    const consumerHttp = route("consumer-http", "client", { name: "web", port: 7070 });
    store.upsert("HTTPRoute", consumerHttp);
    const out = translateGateways(store, { now: NOW, addressPool: [] });
    expect(conditionsOf(out.statuses, "producer")).toEqual(["7070 True Accepted"]);
    expect(conditionsOf(out.statuses, "consumer")).toEqual(["7070 True Accepted"]);
    expect(conditionsOf(out.statuses, "consumer-http")).toEqual(["7070 False Conflicted"]);
    const chain = out.model.mesh.chains.find((c) => c.name === "app/web:7070/consumer/client");
    expect(chain?.sources.map((s) => `${s.kind} ${s.name}`)).toEqual(["Service web", "GRPCRoute consumer"]);
  });
});
