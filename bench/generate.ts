/**
 * Generates the benchmark configuration of the Gateway API issue:
 * 100 Gateways × 2 listeners, 5,000 HTTPRoutes × 4 rules × 2 backends,
 * 5,000 Services with 10 endpoints each, into a ResourceStore.
 */
import type { AnyStoredObject, ObjectOf } from "../src/resources/objects.ts";
import { ResourceStore } from "../src/sources/store.ts";

export interface BenchSize {
  readonly gateways: number;
  readonly routes: number;
  readonly services: number;
  readonly endpointsPerService: number;
}

export const ISSUE_SIZE: BenchSize = { gateways: 100, routes: 5000, services: 5000, endpointsPerService: 10 };

export function route(i: number, size: BenchSize, variant = 0): ObjectOf<"HTTPRoute"> {
  const ns = `team-${i % 50}`;
  const gw = i % size.gateways;
  const svc = (k: number) => `svc-${(i * 4 + k) % size.services}`;
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: {
      name: `route-${i}`,
      namespace: ns,
      creationTimestamp: "2026-01-01T00:00:00Z",
      generation: 1 + variant,
    },
    spec: {
      parentRefs: [{ name: `gw-${gw}`, namespace: "infra" }],
      hostnames: [`app-${i}.example.com`],
      rules: [0, 1, 2, 3].map((r) => ({
        matches: [
          {
            path: { type: "PathPrefix" as const, value: `/r${r}/v${variant}` },
            headers: r === 1 ? [{ name: "x-canary", value: "1" }] : [],
          },
        ],
        backendRefs: [
          { name: svc(r), namespace: `team-${((i * 4 + r) % size.services) % 50}`, port: 80, weight: 90 },
          {
            name: svc(r + 1),
            namespace: `team-${((i * 4 + r + 1) % size.services) % 50}`,
            port: 80,
            weight: 10,
          },
        ],
      })),
    },
  };
}

export function generate(size: BenchSize): ResourceStore {
  const store = new ResourceStore();
  const put = (kind: Parameters<ResourceStore["upsert"]>[0], obj: unknown) =>
    store.upsert(kind, obj as AnyStoredObject);
  put("GatewayClass", {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "GatewayClass",
    metadata: { name: "strait" },
    spec: { controllerName: "strait.dev/gateway-controller" },
  });
  put("Namespace", { apiVersion: "v1", kind: "Namespace", metadata: { name: "infra" } });
  for (let g = 0; g < size.gateways; g++) {
    put("Gateway", {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "Gateway",
      metadata: {
        name: `gw-${g}`,
        namespace: "infra",
        generation: 1,
        creationTimestamp: "2026-01-01T00:00:00Z",
      },
      spec: {
        gatewayClassName: "strait",
        listeners: [
          { name: "http", port: 80, protocol: "HTTP", allowedRoutes: { namespaces: { from: "All" } } },
          { name: "alt", port: 8080, protocol: "HTTP", allowedRoutes: { namespaces: { from: "All" } } },
        ],
      },
    });
  }
  for (let s = 0; s < size.services; s++) {
    const ns = `team-${s % 50}`;
    put("Service", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: `svc-${s}`, namespace: ns },
      spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
    });
    put("EndpointSlice", {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: { name: `svc-${s}-1`, namespace: ns, labels: { "kubernetes.io/service-name": `svc-${s}` } },
      addressType: "IPv4",
      ports: [{ name: "http", port: 8080 }],
      endpoints: Array.from({ length: size.endpointsPerService }, (_, e) => ({
        addresses: [`10.${Math.floor(s / 250)}.${s % 250}.${e + 1}`],
        conditions: { ready: true },
        zone: `zone-${e % 3}`,
      })),
    });
  }
  // Cross-namespace backends need grants: from every team namespace into each one, in
  // grants of at most 16 \`from\` entries (the schema's maxItems).
  for (let n = 0; n < 50; n++) {
    for (let part = 0; part * 16 < 50; part++) {
      put("ReferenceGrant", {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "ReferenceGrant",
        metadata: { name: `from-teams-${part}`, namespace: `team-${n}` },
        spec: {
          from: Array.from({ length: Math.min(16, 50 - part * 16) }, (_, m) => ({
            group: "gateway.networking.k8s.io",
            kind: "HTTPRoute",
            namespace: `team-${part * 16 + m}`,
          })),
          to: [{ group: "", kind: "Service" }],
        },
      });
    }
  }
  for (let i = 0; i < size.routes; i++) put("HTTPRoute", route(i, size));
  return store;
}
