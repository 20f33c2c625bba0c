import { describe, expect, it } from "vitest";
import { resolveServiceBackend } from "../../gateway/service-backends.ts";
import type { ObjectOf } from "../../resources/objects.ts";
import { ResourceStore } from "../../sources/store.ts";
import { encodeResource, TYPE_URLS } from "../proto/index.ts";
import { buildCluster } from "./cluster.ts";
import { buildClusterLoadAssignment } from "./cluster-load-assignment.ts";

function service(ports: { name?: string; port: number; appProtocol?: string }[]): ObjectOf<"Service"> {
  return { apiVersion: "v1", kind: "Service", metadata: { name: "web", namespace: "app" }, spec: { ports } };
}

function slice(
  name: string,
  ports: { name?: string; port: number }[],
  endpoints: { ip: string; ready?: boolean; zone?: string }[],
): ObjectOf<"EndpointSlice"> {
  return {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name, namespace: "app", labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    ports,
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      ...(e.ready === undefined ? {} : { conditions: { ready: e.ready } }),
      ...(e.zone === undefined ? {} : { zone: e.zone }),
    })),
  };
}

describe("Service backends to clusters and load assignments", () => {
  it("resolves the target port by port name across slices, keeps ready endpoints only, and dedupes", () => {
    const store = new ResourceStore();
    store.upsert(
      "Service",
      service([
        { name: "http", port: 80 },
        { name: "admin", port: 9000 },
      ]),
    );
    store.upsert(
      "EndpointSlice",
      slice(
        "web-1",
        [
          { name: "http", port: 8080 },
          { name: "admin", port: 9901 },
        ],
        [
          { ip: "10.0.0.2", zone: "b" },
          { ip: "10.0.0.1", zone: "a" },
          { ip: "10.0.0.3", ready: false },
        ],
      ),
    );
    store.upsert(
      "EndpointSlice",
      slice("web-2", [{ name: "http", port: 8080 }], [{ ip: "10.0.0.2", zone: "b" }, { ip: "10.0.0.4" }]),
    );
    const result = resolveServiceBackend(store, "app", "web", 80);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.value.clusterName).toBe("app/web:80");
    expect(result.value.endpoints.map((e) => `${e.address}:${e.port}`)).toEqual([
      "10.0.0.1:8080",
      "10.0.0.2:8080",
      "10.0.0.4:8080",
    ]);

    const cla = buildClusterLoadAssignment(result.value).json;
    expect(encodeResource(TYPE_URLS.clusterLoadAssignment, cla).issues).toEqual([]);
    expect(cla).toEqual({
      cluster_name: "app/web:80",
      endpoints: [
        {
          locality: {},
          load_balancing_weight: 1,
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: "10.0.0.4", port_value: 8080 } } },
              health_status: "HEALTHY",
            },
          ],
        },
        {
          locality: { zone: "a" },
          load_balancing_weight: 1,
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: "10.0.0.1", port_value: 8080 } } },
              health_status: "HEALTHY",
            },
          ],
        },
        {
          locality: { zone: "b" },
          load_balancing_weight: 1,
          lb_endpoints: [
            {
              endpoint: { address: { socket_address: { address: "10.0.0.2", port_value: 8080 } } },
              health_status: "HEALTHY",
            },
          ],
        },
      ],
    });
  });

  it("reports a missing Service or port as a value", () => {
    const store = new ResourceStore();
    expect(resolveServiceBackend(store, "app", "web", 80)).toMatchObject({
      ok: false,
      error: { reason: "ServiceNotFound" },
    });
    store.upsert("Service", service([{ port: 80 }]));
    expect(resolveServiceBackend(store, "app", "web", 81)).toMatchObject({
      ok: false,
      error: { reason: "PortNotFound" },
    });
  });

  it("builds valid EDS clusters, with HTTP/2 for h2c and gRPC app protocols", () => {
    const store = new ResourceStore();
    store.upsert("Service", service([{ port: 80 }, { port: 81, appProtocol: "kubernetes.io/h2c" }]));
    for (const port of [80, 81]) {
      const backend = resolveServiceBackend(store, "app", "web", port);
      if (!backend.ok) throw new Error(backend.error.message);
      const cluster = buildCluster(backend.value);
      expect(encodeResource(TYPE_URLS.cluster, cluster).issues).toEqual([]);
      expect("typed_extension_protocol_options" in cluster).toBe(port === 81);
    }
  });
});
