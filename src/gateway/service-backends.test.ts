import { describe, expect, it } from "vitest";
import type { AnyStoredObject } from "../resources/objects.ts";
import { ResourceStore } from "../sources/store.ts";
import { resolveServiceBackend } from "./service-backends.ts";

function store(addresses: string[]): ResourceStore {
  const s = new ResourceStore();
  s.upsert("Service", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "app" },
    spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  } as AnyStoredObject as never);
  slice(s, addresses);
  return s;
}

function slice(s: ResourceStore, addresses: string[]): void {
  s.upsert("EndpointSlice", {
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: "web-1", namespace: "app", labels: { "kubernetes.io/service-name": "web" } },
    addressType: "IPv4",
    ports: [{ name: "http", port: 8080 }],
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
  } as AnyStoredObject as never);
}

const addressesOf = (r: ReturnType<typeof resolveServiceBackend>) =>
  r.ok ? r.value.endpoints.map((e) => `${e.address}:${e.port}`) : r.error.reason;

describe("resolveServiceBackend over a store", () => {
  it("resolves a Service port once per revision and again after the endpoints change", () => {
    const s = store(["10.0.0.2", "10.0.0.1"]);
    const a = resolveServiceBackend(s, "app", "web", 80);
    expect(addressesOf(a)).toEqual(["10.0.0.1:8080", "10.0.0.2:8080"]);
    expect(resolveServiceBackend(s, "app", "web", 80)).toBe(a); // the same result, not worked out again
    slice(s, ["10.0.0.3"]);
    expect(addressesOf(resolveServiceBackend(s, "app", "web", 80))).toEqual(["10.0.0.3:8080"]);
    s.delete("Service", "app", "web");
    expect(addressesOf(resolveServiceBackend(s, "app", "web", 80))).toBe("ServiceNotFound");
    expect(addressesOf(resolveServiceBackend(s, "app", "web", 81))).toBe("ServiceNotFound");
  });

  it("keeps one store's results apart from another's", () => {
    const one = store(["10.0.0.1"]);
    const two = store(["10.0.0.9"]);
    expect(addressesOf(resolveServiceBackend(one, "app", "web", 80))).toEqual(["10.0.0.1:8080"]);
    expect(addressesOf(resolveServiceBackend(two, "app", "web", 80))).toEqual(["10.0.0.9:8080"]);
    expect(addressesOf(resolveServiceBackend(one, "app", "web", 81))).toBe("PortNotFound");
  });
});
