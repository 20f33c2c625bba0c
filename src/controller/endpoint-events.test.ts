import { describe, expect, it } from "vitest";
import type { Exclusion } from "../model/exclusion.ts";
import type { AnyStoredObject } from "../resources/objects.ts";
import { ResourceStore } from "../sources/store.ts";
import { invalidEndpointEvents } from "./endpoint-events.ts";

function store(): ResourceStore {
  const s = new ResourceStore();
  s.upsert("Service", {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: "web", namespace: "app", uid: "svc-uid" },
    spec: { ports: [{ name: "http", port: 80, targetPort: 8080 }] },
  } as AnyStoredObject as never);
  for (const [name, address] of [
    ["web-good", "10.0.0.1"],
    ["web-v6", "fd00::1"],
  ] as const) {
    s.upsert("EndpointSlice", {
      apiVersion: "discovery.k8s.io/v1",
      kind: "EndpointSlice",
      metadata: {
        name,
        namespace: "app",
        uid: `${name}-uid`,
        labels: { "kubernetes.io/service-name": "web" },
      },
      addressType: address.includes(":") ? "IPv6" : "IPv4",
      ports: [{ name: "http", port: 8080 }],
      endpoints: [{ addresses: [address] }],
    } as AnyStoredObject as never);
  }
  return s;
}

const exclusion = (name: string, part: Exclusion["part"] = "endpoint"): Exclusion => ({
  part,
  name,
  resource: "endpoints",
  resourceName: "app/web:80",
  message: "endpoint.address.socket_address.address: bad",
  sources: [{ group: "", kind: "Service", namespace: "app", name: "web" }],
});

describe("Events for endpoints left out", () => {
  it("regard the EndpointSlice holding the address and port (IPv6 too), with the field in the note", () => {
    const events = invalidEndpointEvents([exclusion("fd00::1:8080"), exclusion("10.0.0.1:8080")], store());
    expect(events.map((e) => [e.regarding.kind, e.regarding.name, e.regarding.uid])).toEqual([
      ["EndpointSlice", "web-v6", "web-v6-uid"],
      ["EndpointSlice", "web-good", "web-good-uid"],
    ]);
    expect(events[0]).toMatchObject({ type: "Warning", reason: "InvalidEndpoint", action: "Translate" });
    expect(events[0]?.note).toBe(
      "endpoint fd00::1:8080 left out of the endpoints of Envoy cluster app/web:80; the other endpoints are served: endpoint.address.socket_address.address: bad",
    );
  });

  it("regard the Service when no slice holds the endpoint any more, and leave other parts to their statuses", () => {
    const events = invalidEndpointEvents(
      [exclusion("10.9.9.9:8080"), exclusion("app/web/0/0", "route")],
      store(),
    );
    expect(events.map((e) => e.regarding)).toEqual([
      { apiVersion: "v1", kind: "Service", namespace: "app", name: "web", uid: "svc-uid" },
    ]);
  });
});
