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
