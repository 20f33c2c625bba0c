/**
 * The conformance harness must be able to fail: each test here runs an
 * official test against a deliberately broken strait and expects the
 * harness to catch it.
 */
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { crdSchemaCheck } from "../src/sources/schema.ts";
import { TYPE_URLS } from "../src/xds/proto/index.ts";
import type { EnvoyResourceJson, EnvoyResourceSet } from "../src/xds/translate/resource-set.ts";
import { gatewayApiDir } from "../test/support/gateway-api-data.ts";
import { loadCatalogue, type TestData } from "./catalogue.ts";
import { createProgrammaticObjects } from "./certificates.ts";
import type { ConformanceTarget, HarnessOptions } from "./harness.ts";
import { runTest } from "./harness.ts";
import { MUTATIONS, NOTE_CHECKS } from "./mutations.ts";
import { createStraitTarget, STRAIT_CONTROLLER_NAME } from "./strait-target.ts";

const dir = gatewayApiDir();
const catalogue = loadCatalogue(dir);
let options: HarnessOptions;

beforeAll(async () => {
  const programmatic = await createProgrammaticObjects(catalogue.programmaticObjects);
  options = {
    manifestsDir: join(dir, "conformance"),
    gatewayClassName: "strait",
    controllerName: STRAIT_CONTROLLER_NAME,
    usableAddress: "127.0.1.250",
    unusableAddress: "192.0.2.1",
    schemaCheck: crdSchemaCheck([join(dir, "config/crd/standard")]),
    programmatic: programmatic.objects,
    issued: programmatic.issued,
  };
});

function test(name: string): TestData {
  const t = catalogue.tests.find((x) => x.name === name);
  if (t === undefined) throw new Error(`catalogue lacks ${name}`);
  return t;
}

function run(target: ConformanceTarget, name: string) {
  return runTest(target, options, test(name), MUTATIONS[name] ?? [], NOTE_CHECKS[name] ?? []);
}

/** strait with one thing broken, by editing what the real target produces. */
function broken(edit: {
  statuses?: (
    s: ReturnType<ConformanceTarget["reconcile"]>["statuses"],
  ) => ReturnType<ConformanceTarget["reconcile"]>["statuses"];
  resources?: (r: EnvoyResourceSet) => EnvoyResourceSet;
  owned?: boolean;
}): ConformanceTarget {
  const real = createStraitTarget();
  return {
    reconcile(view, now) {
      const out = real.reconcile(view, now);
      return {
        statuses: edit.statuses === undefined ? out.statuses : edit.statuses(out.statuses),
        resources: edit.resources === undefined ? out.resources : edit.resources(out.resources),
        ownedObjects: edit.owned === false ? [] : out.ownedObjects,
      };
    },
    traffic: (resources, cluster) => real.traffic(resources, cluster),
  };
}

function mapRoutes(
  set: EnvoyResourceSet,
  f: (route: Record<string, unknown>) => Record<string, unknown>,
): EnvoyResourceSet {
  const routes = new Map<string, EnvoyResourceJson>();
  for (const [name, rc] of set[TYPE_URLS.routeConfiguration]) {
    const vhosts = (rc.virtual_hosts as Record<string, unknown>[]).map((vh) => ({
      ...vh,
      routes: (vh.routes as Record<string, unknown>[]).map(f),
    }));
    routes.set(name, { ...rc, virtual_hosts: vhosts });
  }
  return { ...set, [TYPE_URLS.routeConfiguration]: routes };
}

describe("conformance harness", () => {
  it("passes the real strait", async () => {
    expect((await run(createStraitTarget(), "HTTPRouteSimpleSameNamespace")).passed).toBe(true);
  });

  it("passes the mesh tests of no profile (consumer routes, a Pod's own address, ClusterIP not Host)", async () => {
    for (const name of ["MeshConsumerRoute", "MeshFrontend", "MeshFrontendHostname"])
      expect((await run(createStraitTarget(), name)).passed, name).toBe(true);
  });

  it("fails MeshConsumerRoute when the mesh listener has no consumer chain", async () => {
    const producerOnly = (set: EnvoyResourceSet): EnvoyResourceSet => {
      const listeners = new Map<string, EnvoyResourceJson>();
      for (const [name, l] of set[TYPE_URLS.listener]) {
        const chains =
          (l.filter_chains as { filter_chain_match?: { source_prefix_ranges?: unknown[] } }[]) ?? [];
        listeners.set(
          name,
          name !== "strait/mesh"
            ? l
            : {
                ...l,
                filter_chains: chains.filter(
                  (c) => (c.filter_chain_match?.source_prefix_ranges ?? []).length === 0,
                ),
              },
        );
      }
      return { ...set, [TYPE_URLS.listener]: listeners };
    };
    const result = await run(broken({ resources: producerOnly }), "MeshConsumerRoute");
    expect(result.passed).toBe(false);
    expect(result.checks.find((c) => !c.outcome.ok)?.outcome.message).toMatch(/X-Header-Set/i);
  });

  it("fails when route statuses are missing", async () => {
    const result = await run(
      broken({ statuses: (s) => s.filter((x) => x.ref.kind !== "HTTPRoute") }),
      "HTTPRouteSimpleSameNamespace",
    );
    expect(result.passed).toBe(false);
    expect(result.checks.find((c) => !c.outcome.ok)?.check).toBe("gatewayAndRoutesAccepted");
  });

  it("fails when routes send traffic to the wrong backend", async () => {
    const swap = (r: Record<string, unknown>) => {
      const action = r.route as { cluster?: string } | undefined;
      return action?.cluster === undefined
        ? r
        : {
            ...r,
            route: { ...action, cluster: action.cluster.replace("infra-backend-v1", "infra-backend-v2") },
          };
    };
    const result = await run(
      broken({ resources: (set) => mapRoutes(set, swap) }),
      "HTTPRouteSimpleSameNamespace",
    );
    expect(result.passed).toBe(false);
    expect(result.checks.find((c) => !c.outcome.ok)?.outcome.message).toMatch(/status 500, want 200/);
  });

  it("fails when header modifications are dropped", async () => {
    const strip = (r: Record<string, unknown>) => {
      const { request_headers_to_add: _a, request_headers_to_remove: _r, ...rest } = r;
      return rest;
    };
    expect(
      (await run(broken({ resources: (set) => mapRoutes(set, strip) }), "HTTPRouteRequestHeaderModifier"))
        .passed,
    ).toBe(false);
  });

  it("fails when redirects lose their Location port", async () => {
    const noPort = (r: Record<string, unknown>) => {
      const redirect = r.redirect as Record<string, unknown> | undefined;
      if (redirect === undefined) return r;
      const { port_redirect: _p, ...rest } = redirect;
      return { ...r, redirect: rest };
    };
    expect(
      (await run(broken({ resources: (set) => mapRoutes(set, noPort) }), "HTTPRouteRedirectPortAndScheme"))
        .passed,
    ).toBe(false);
  });

  it("fails when the infrastructure Service is not created (a check from the catalogue's notes)", async () => {
    const result = await run(broken({ owned: false }), "GatewayInfrastructure");
    expect(result.passed).toBe(false);
    expect(result.checks.at(-1)?.outcome.message).toMatch(/no Service/);
  });

  it("fails when the gateway does not present its backend client certificate", async () => {
    const noClientCert = (set: EnvoyResourceSet): EnvoyResourceSet => {
      const clusters = new Map<string, EnvoyResourceJson>();
      for (const [name, c] of set[TYPE_URLS.cluster]) {
        clusters.set(
          name,
          JSON.parse(
            JSON.stringify(c).replace(/"tls_certificate_sds_secret_configs":\[[^\]]*\],?/g, ""),
          ) as EnvoyResourceJson,
        );
      }
      return { ...set, [TYPE_URLS.cluster]: clusters };
    };
    expect(
      (await run(broken({ resources: noClientCert }), "GatewayTLSBackendClientCertificate")).passed,
    ).toBe(false);
  });

  it("fails when weights are ignored", async () => {
    const firstOnly = (r: Record<string, unknown>) => {
      const action = r.route as { weighted_clusters?: { clusters: { name: string }[] } } | undefined;
      const first = action?.weighted_clusters?.clusters[0];
      return first === undefined ? r : { ...r, route: { cluster: first.name } };
    };
    expect(
      (await run(broken({ resources: (set) => mapRoutes(set, firstOnly) }), "HTTPRouteWeight")).passed,
    ).toBe(false);
  });
});

/** Every resource of one type rewritten through its JSON text. */
function rewriteJson(set: EnvoyResourceSet, type: string, f: (json: string) => string): EnvoyResourceSet {
  const out = new Map<string, EnvoyResourceJson>();
  for (const [name, r] of set[type as keyof EnvoyResourceSet] as Map<string, EnvoyResourceJson>)
    out.set(name, JSON.parse(f(JSON.stringify(r))) as EnvoyResourceJson);
  return { ...set, [type]: out };
}

function firstFailure(result: Awaited<ReturnType<typeof run>>): string | undefined {
  return result.checks.find((c) => !c.outcome.ok)?.outcome.message;
}

describe("conformance harness, as strict as the official suite", () => {
  it("fails when the gateway presents a certificate the client does not trust (serverCert)", async () => {
    // The served certificate replaced by another one the suite created: valid for the names, untrusted.
    const other = options.issued.get("gateway-conformance-infra/tls-validity-checks-client-certificate");
    expect(other).toBeDefined();
    const swap = (set: EnvoyResourceSet) =>
      rewriteJson(set, TYPE_URLS.secret, (json) => {
        const secret = JSON.parse(json) as {
          tls_certificate?: { certificate_chain?: { inline_string?: string } };
        };
        if (secret.tls_certificate?.certificate_chain?.inline_string === undefined) return json;
        secret.tls_certificate.certificate_chain.inline_string = other?.certPem ?? "";
        return JSON.stringify(secret);
      });
    const result = await run(broken({ resources: swap }), "HTTPRouteHTTPSListener");
    expect(result.passed).toBe(false);
    expect(firstFailure(result)).toMatch(/not trusted by the client/);
  });

  it("fails when the server never asks for the client certificate it should validate", async () => {
    const dropValidation = (value: unknown): unknown =>
      Array.isArray(value)
        ? value.map(dropValidation)
        : value !== null && typeof value === "object"
          ? Object.fromEntries(
              Object.entries(value)
                .filter(([k]) => k !== "combined_validation_context" && k !== "require_client_certificate")
                .map(([k, v]) => [k, dropValidation(v)]),
            )
          : value;
    const noRequest = (set: EnvoyResourceSet) =>
      rewriteJson(set, TYPE_URLS.listener, (json) => JSON.stringify(dropValidation(JSON.parse(json))));
    const result = await run(
      broken({ resources: noRequest }),
      "GatewayFrontendClientCertificateValidationInsecureFallback",
    );
    expect(result.passed).toBe(false);
    expect(firstFailure(result)).toMatch(/did not ask for the client certificate/);
  });

  it("fails when a percentage mirror mirrors every request", async () => {
    const always = (r: Record<string, unknown>) =>
      JSON.parse(
        JSON.stringify(r).replace(
          /"runtime_fraction":\{"default_value":\{[^}]*\}\}/g,
          '"runtime_fraction":{"default_value":{"numerator":100,"denominator":"HUNDRED"}}',
        ),
      ) as Record<string, unknown>;
    const result = await run(
      broken({ resources: (set) => mapRoutes(set, always) }),
      "HTTPRouteRequestPercentageMirror",
    );
    expect(result.passed).toBe(false);
    expect(firstFailure(result)).toMatch(/logged 500 of 500 mirrored requests/);
  });

  it("fails when a Gateway condition other than the one asked for is at an old generation", async () => {
    const stale = (statuses: ReturnType<ConformanceTarget["reconcile"]>["statuses"]) =>
      statuses.map((s) => {
        if (s.ref.kind !== "Gateway") return s;
        const status = s.status as { conditions?: { type: string; observedGeneration?: number }[] };
        return {
          ...s,
          status: {
            ...status,
            conditions: (status.conditions ?? []).map((c) =>
              c.type === "Programmed" ? { ...c, observedGeneration: (c.observedGeneration ?? 1) - 1 } : c,
            ),
          },
        } as typeof s;
      });
    const result = await run(broken({ statuses: stale }), "HTTPRouteSimpleSameNamespace");
    expect(result.passed).toBe(false);
    expect(firstFailure(result)).toMatch(/not at generation/);
  });
});
