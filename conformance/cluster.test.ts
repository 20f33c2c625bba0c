import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packagedSchemaCheck } from "../src/sources/schema.ts";
import { gatewayApiDir } from "../test/support/gateway-api-data.ts";
import { loadCatalogue } from "./catalogue.ts";
import { createProgrammaticObjects } from "./certificates.ts";
import { type HarnessOptions, newCluster } from "./harness.ts";

const dir = gatewayApiDir();
const catalogue = loadCatalogue(dir);

async function options(): Promise<HarnessOptions> {
  const programmatic = await createProgrammaticObjects(catalogue.programmaticObjects);
  return {
    manifestsDir: join(dir, "conformance"),
    gatewayClassName: "strait",
    controllerName: "strait.dev/gateway-controller",
    usableAddress: "127.0.0.1",
    unusableAddress: "192.0.2.1",
    schemaCheck: packagedSchemaCheck,
    programmatic: programmatic.objects,
    issued: programmatic.issued,
  };
}

describe("conformance cluster stand-in", () => {
  it("loads the base manifests with pods, EndpointSlices and programmatic objects like a cluster would", async () => {
    const test = catalogue.tests.find((t) => t.name === "HTTPRouteSimpleSameNamespace");
    if (test === undefined) throw new Error("catalogue lacks HTTPRouteSimpleSameNamespace");
    const { cluster, errors } = newCluster(await options(), test);
    expect(errors).toEqual([]);
    const store = cluster.store;
    expect(store.get("GatewayClass", "", "strait")?.spec.controllerName).toBe(
      "strait.dev/gateway-controller",
    );
    expect(store.list("Gateway", "gateway-conformance-infra").map((g) => g.spec.gatewayClassName)).toContain(
      "strait",
    );
    // infra-backend-v1 has 2 replicas and three ports (3000, 3001 for h2c, 3000 for ws).
    const slice = store.get("EndpointSlice", "gateway-conformance-infra", "infra-backend-v1-conformance");
    expect(slice?.endpoints).toHaveLength(2);
    expect(slice?.ports?.map((p) => [p.name, p.port])).toEqual([
      ["first-port", 3000],
      ["second-port", 3001],
      ["third-port", 3000],
    ]);
    const ip = slice?.endpoints?.[0]?.addresses[0] ?? "";
    expect(cluster.podByIp(ip)?.name).toMatch(/^infra-backend-v1-/);
    expect(store.get("Secret", "gateway-conformance-infra", "tls-validity-checks-certificate")?.type).toBe(
      "kubernetes.io/tls",
    );
    expect(
      store.get("ConfigMap", "gateway-conformance-infra", "tls-checks-ca-certificate")?.data?.["ca.crt"],
    ).toMatch(/BEGIN CERTIFICATE/);
    // The test's own route, with the generation an API server gives a new object.
    const route = store.get("HTTPRoute", "gateway-conformance-infra", "gateway-conformance-infra-test");
    expect(route?.metadata.generation).toBe(1);
  });

  it("bumps generation on spec changes only, and keeps status across updates", async () => {
    const test = catalogue.tests.find((t) => t.name === "HTTPRouteSimpleSameNamespace");
    if (test === undefined) throw new Error("missing test");
    const { cluster } = newCluster(await options(), test);
    const route = cluster.store.get(
      "HTTPRoute",
      "gateway-conformance-infra",
      "gateway-conformance-infra-test",
    );
    if (route === undefined) throw new Error("missing route");
    cluster.putStatus("HTTPRoute", "gateway-conformance-infra", route.metadata.name, { parents: [] });
    cluster.put("HTTPRoute", { ...route, metadata: { ...route.metadata, labels: { a: "b" } } });
    expect(
      cluster.store.get("HTTPRoute", "gateway-conformance-infra", route.metadata.name)?.metadata.generation,
    ).toBe(1);
    cluster.put("HTTPRoute", { ...route, spec: { ...route.spec, hostnames: ["x.example"] } });
    const updated = cluster.store.get("HTTPRoute", "gateway-conformance-infra", route.metadata.name);
    expect(updated?.metadata.generation).toBe(2);
    expect(updated?.status).toEqual({ parents: [] });
  });
});

describe("conformance cluster stand-in: Service addresses and mesh clients", () => {
  it("allocates ClusterIPs as the API server does: stable, kept on update, None and given ones kept", async () => {
    const test = catalogue.tests.find((t) => t.name === "MeshBasic");
    if (test === undefined) throw new Error("catalogue lacks MeshBasic");
    const { cluster, errors } = newCluster(await options(), test);
    expect(errors).toEqual([]);
    const echo = cluster.store.get("Service", "gateway-conformance-mesh", "echo");
    const ip = echo?.spec?.clusterIP;
    expect(ip).toMatch(/^10\.96\./);
    expect(echo?.spec?.clusterIPs).toEqual([ip]);
    const ips = cluster.store.list("Service").map((s) => s.spec?.clusterIP);
    expect(new Set(ips).size).toBe(ips.length);
    // An update without clusterIP (as `kubectl apply` sends) keeps the address and the generation.
    const generation = echo?.metadata.generation;
    const { clusterIP: _ip, clusterIPs: _ips, ...spec } = echo?.spec ?? {};
    const updated = cluster.put("Service", { ...echo, spec } as never) as {
      spec?: unknown;
      metadata: { generation?: number };
    };
    expect(updated.spec).toMatchObject({ clusterIP: ip });
    expect(updated.metadata.generation).toBe(generation);
    const headless = cluster.put("Service", {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "headless", namespace: "gateway-conformance-mesh" },
      spec: { clusterIP: "None", ports: [{ port: 80 }] },
    } as never) as { spec?: unknown };
    expect(headless.spec).toMatchObject({ clusterIP: "None" });
  });

  it("stores one mesh client Pod per namespace, with its address, backing no Service", async () => {
    const test = catalogue.tests.find((t) => t.name === "MeshBasic");
    if (test === undefined) throw new Error("catalogue lacks MeshBasic");
    const { cluster } = newCluster(await options(), test);
    const a = cluster.addMeshClient("gateway-conformance-mesh");
    const b = cluster.addMeshClient("gateway-conformance-mesh-consumer");
    expect(cluster.addMeshClient("gateway-conformance-mesh")).toBe(a);
    expect(a.ip).not.toBe(b.ip);
    const stored = cluster.store.get("Pod", "gateway-conformance-mesh", a.name);
    expect(stored?.status).toMatchObject({ podIP: a.ip, podIPs: [{ ip: a.ip }] });
    const slices = cluster.store.list("EndpointSlice");
    expect(slices.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses))).not.toContain(a.ip);
  });
});
