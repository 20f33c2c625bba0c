import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packagedSchemaCheck } from "../src/sources/schema.ts";
import { gatewayApiDir } from "../test/support/gateway-api-data.ts";
import { loadCatalogue, type ProfileData } from "./catalogue.ts";
import { newCluster } from "./harness.ts";
import { resolvePlaceholders } from "./placeholders.ts";
import { selectTests } from "./run.ts";

const dir = gatewayApiDir();
const catalogue = loadCatalogue(dir);

function profiles(...names: string[]): ProfileData[] {
  return catalogue.profiles.filter((p) => names.includes(p.name));
}

describe("which tests a run plays (as the official suite's Run selects them)", () => {
  it("plays the mesh tests of no profile with MESH-HTTP, and no Gateway test", () => {
    const names = selectTests(catalogue.tests, profiles("MESH-HTTP")).map((t) => t.name);
    for (const name of [
      "MeshBasic",
      "MeshConsumerRoute",
      "MeshFrontend",
      "MeshFrontendHostname",
      "MeshPorts",
    ])
      expect(names).toContain(name);
    expect(names).toContain("MeshHTTPRoute303Redirect");
    expect(names).not.toContain("HTTPRouteDisallowedKind");
    expect(names.every((n) => catalogue.tests.find((t) => t.name === n)?.features.includes("Mesh"))).toBe(
      true,
    );
  });

  it("plays the Gateway tests of no profile with a Gateway profile, and no mesh test", () => {
    const names = selectTests(catalogue.tests, profiles("GATEWAY-HTTP")).map((t) => t.name);
    expect(names).toContain("HTTPRouteDisallowedKind");
    expect(names).toContain("GRPCRouteNamedRule");
    expect(names).not.toContain("MeshFrontend");
    // A test of another profile is not played: the profiles choose.
    expect(names).not.toContain("TLSRouteSimpleSameNamespace");
  });
});

describe("placeholders of the mesh tests", () => {
  it("resolves MeshFrontend's Ipv6SafeHost(v2.Address):8080 to the echo-v2 Pod's address", () => {
    const test = catalogue.tests.find((t) => t.name === "MeshFrontend");
    if (test === undefined) throw new Error("catalogue lacks MeshFrontend");
    const { cluster } = newCluster(
      {
        manifestsDir: join(dir, "conformance"),
        gatewayClassName: "strait",
        controllerName: "strait.dev/gateway-controller",
        usableAddress: "127.0.0.1",
        unusableAddress: "192.0.2.1",
        schemaCheck: packagedSchemaCheck,
        programmatic: [],
        issued: new Map(),
      },
      test,
    );
    const { checks, errors } = resolvePlaceholders(test.name, test.checks, cluster);
    expect(errors).toEqual([]);
    const v2 = cluster
      .pods()
      .filter((p) => p.namespace === "gateway-conformance-mesh" && p.labels.version === "v2")
      .sort((a, b) => a.name.localeCompare(b.name))[0];
    expect(v2).toBeDefined();
    expect(checks.map((c) => (c.request as { host?: string }).host)).toEqual(["echo-v2", `${v2?.ip}:8080`]);
  });

  it("says so when a host placeholder cannot be resolved", () => {
    const test = catalogue.tests.find((t) => t.name === "MeshFrontend");
    if (test === undefined) throw new Error("catalogue lacks MeshFrontend");
    const base = catalogue.tests.find((t) => t.name === "MeshBasic");
    if (base === undefined) throw new Error("catalogue lacks MeshBasic");
    // A cluster without the mesh manifests has no echo-v2 Pod.
    const { cluster } = newCluster(
      {
        manifestsDir: join(dir, "conformance"),
        gatewayClassName: "strait",
        controllerName: "strait.dev/gateway-controller",
        usableAddress: "127.0.0.1",
        unusableAddress: "192.0.2.1",
        schemaCheck: packagedSchemaCheck,
        programmatic: [],
        issued: new Map(),
      },
      { ...base, baseManifests: [], manifests: [] },
    );
    const { errors } = resolvePlaceholders(test.name, test.checks, cluster);
    expect(errors).toEqual([`MeshFrontend: cannot resolve host <http.Ipv6SafeHost(...) + ':8080'>`]);
  });
});
