/**
 * Runs one official conformance test through the Envoy engine five times on
 * one Envoy: as is; with the simulator given a broken configuration; with
 * Envoy given the broken one (every route and TCP proxy to BACKEND, default
 * infra-backend-v1, sent to a cluster that does not exist); with Envoy given
 * one it rejects; and as is
 * again. Prints the outcomes as JSON for the engine's own test
 * (test/conformance-envoy.e2e.test.ts): the cross-check must catch both lies,
 * the NACK must fail the test with Envoy's error, and the next test must pass.
 * Runs itself in a network namespace of its own, as the runner does.
 *
 * HTTPRoute, TLSRoute (TCP proxies in listeners) and GRPCRoute tests alike;
 * a mesh test (MESH mode, root) also runs once with the datapath given no
 * mesh services ("no-redirect"): nothing listens on a ClusterIP, so its
 * requests must then fail, and differ from the simulator's prediction.
 *
 *   node test/support/envoy-engine-probe.ts TEST [BACKEND]
 */

import { loadCatalogue } from "../../conformance/catalogue.ts";
import { viaMeshClient } from "../../conformance/checks/traffic-checks.ts";
import { EnvoyDataPlane } from "../../conformance/envoy/envoy-data-plane.ts";
import { inOwnNetwork, rerunInOwnNetwork } from "../../conformance/envoy/netns.ts";
import { runTest } from "../../conformance/harness.ts";
import { MUTATIONS, NOTE_CHECKS } from "../../conformance/mutations.ts";
import {
  createStraitTarget,
  type DataPlane,
  SimulatedTraffic,
  straitHarnessOptions,
} from "../../conformance/strait-target.ts";
import { TYPE_URLS } from "../../src/xds/proto/index.ts";
import { prepareNodeConfig } from "../../src/xds/simulate/index.ts";
import type { EnvoyResourceJson, EnvoyResourceSet } from "../../src/xds/translate/resource-set.ts";
import { gatewayApiDir } from "./gateway-api-data.ts";

function broken(set: EnvoyResourceSet, backend: string): EnvoyResourceSet {
  const rewrite = (resources: ReadonlyMap<string, EnvoyResourceJson>) => {
    const out = new Map<string, EnvoyResourceJson>();
    for (const [name, r] of resources)
      out.set(name, JSON.parse(JSON.stringify(r).replaceAll(backend, "no-such-backend")));
    return out;
  };
  return {
    ...set,
    [TYPE_URLS.routeConfiguration]: rewrite(set[TYPE_URLS.routeConfiguration]),
    [TYPE_URLS.listener]: rewrite(set[TYPE_URLS.listener]),
  };
}

/** Every virtual host twice: valid protobuf, but Envoy refuses duplicate domains (a NACK). */
function rejected(set: EnvoyResourceSet): EnvoyResourceSet {
  const routes = new Map<string, EnvoyResourceJson>();
  for (const [name, rc] of set[TYPE_URLS.routeConfiguration]) {
    const hosts = (rc.virtual_hosts as { name: string }[] | undefined) ?? [];
    routes.set(name, {
      ...rc,
      virtual_hosts: [...hosts, ...hosts.map((h) => ({ ...h, name: `${h.name}-again` }))],
    });
  }
  return { ...set, [TYPE_URLS.routeConfiguration]: routes };
}

async function main(name: string, backend: string): Promise<void> {
  const dir = gatewayApiDir();
  const catalogue = loadCatalogue(dir);
  const test = catalogue.tests.find((t) => t.name === name);
  if (test === undefined) throw new Error(`no test ${name}`);
  const options = await straitHarnessOptions(dir, catalogue);
  const mesh = test.checks.some(viaMeshClient);
  const plane = await EnvoyDataPlane.start({ mesh });
  const modes: Record<string, DataPlane> = {
    honest: plane,
    "simulator-wrong": {
      serve: (resources, cluster, _simulator, mesh) =>
        plane.serve(
          resources,
          cluster,
          new SimulatedTraffic(prepareNodeConfig(broken(resources, backend)).config, cluster, mesh),
          mesh,
        ),
    },
    "envoy-wrong": {
      serve: (resources, cluster, simulator, mesh) =>
        plane.serve(broken(resources, backend), cluster, simulator, mesh),
    },
    "envoy-rejects": {
      serve: (resources, cluster, simulator, mesh) =>
        plane.serve(rejected(resources), cluster, simulator, mesh),
    },
    ...(mesh
      ? {
          "no-redirect": {
            serve: (resources, cluster, simulator) => plane.serve(resources, cluster, simulator, []),
          } satisfies DataPlane,
        }
      : {}),
    "honest-again": plane,
  };
  const out: Record<string, unknown> = {};
  try {
    for (const [mode, dataPlane] of Object.entries(modes)) {
      const before = plane.disagreements.length;
      const requestsBefore = plane.requests;
      const result = await runTest(
        createStraitTarget(dataPlane),
        options,
        test,
        MUTATIONS[name] ?? [],
        NOTE_CHECKS[name] ?? [],
      );
      out[mode] = {
        passed: result.passed,
        requests: plane.requests - requestsBefore,
        disagreements: plane.disagreements.slice(before),
        errors: result.errors,
      };
    }
  } finally {
    await plane.close();
  }
  console.log(JSON.stringify(out));
}

if (!inOwnNetwork()) process.exitCode = rerunInOwnNetwork(import.meta.filename, process.argv.slice(2));
else
  main(process.argv[2] ?? "HTTPRouteSimpleSameNamespace", process.argv[3] ?? "infra-backend-v1").catch(
    (error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    },
  );
