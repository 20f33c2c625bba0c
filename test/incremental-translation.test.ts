/**
 * Incremental translation is memoization only: after any sequence of changes,
 * a pipeline that keeps its cache across passes must produce exactly what a
 * fresh pass produces (model, statuses, Envoy resources). Two sequences: the
 * benchmark's generated configuration with targeted edits of every kind the
 * translation reads, and the official conformance manifests applied one test
 * after another onto one store (as a re-list would), statuses written back
 * after every pass as the status writer does.
 */
import { describe, expect, it } from "vitest";
import { generate, route } from "../bench/generate.ts";
import { loadCatalogue } from "../conformance/catalogue.ts";
import { newCluster } from "../conformance/harness.ts";
import { straitHarnessOptions } from "../conformance/strait-target.ts";
import { PipelineCache, type PipelineOutput, runPipeline } from "../src/controller/pipeline.ts";
import { isKindName, KIND_NAMES } from "../src/resources/kinds.ts";
import type { AnyStoredObject } from "../src/resources/objects.ts";
import { LocalStatusWriter } from "../src/sources/status/local-status-writer.ts";
import { carryTransitionTimes } from "../src/sources/status/transition-times.ts";
import type { ResourceStore } from "../src/sources/store.ts";
import { gatewayApiDir } from "./support/gateway-api-data.ts";

const SIZE = { gateways: 6, routes: 60, services: 40, endpointsPerService: 3 };
const NOW = new Date("2026-01-01T00:00:00Z");

/**
 * What would be written: statuses with the transition times the status writer keeps from the
 * object (a cached route status carries the stamp of the pass that built it, a fresh one the
 * clock's; the pipeline reads no status, the writer keeps the object's time while a condition holds).
 */
function comparable(out: PipelineOutput, store: ResourceStore) {
  return {
    model: out.model,
    statuses: out.statuses.map((s) => ({
      ...s,
      status: carryTransitionTimes(
        isKindName(s.ref.kind)
          ? (store.get(s.ref.kind, s.ref.namespace, s.ref.name) as { status?: unknown } | undefined)?.status
          : undefined,
        s.status,
      ),
    })),
    ownedObjects: out.ownedObjects,
    resources: Object.fromEntries(
      Object.entries(out.resources).map(([type, byName]) => [type, Object.fromEntries(byName)]),
    ),
  };
}

/** Runs a cached and a fresh pass, asserts they agree, and writes the statuses back. */
function checkStep(store: ResourceStore, cache: PipelineCache, step: string, now = NOW): Promise<number> {
  const options = { now, addressPool: ["10.200.0.0/16"] };
  const incremental = runPipeline(store, { ...options, cache });
  const fresh = runPipeline(store, options);
  expect(comparable(incremental, store), `after: ${step}`).toEqual(comparable(fresh, store));
  return new LocalStatusWriter(store).write(fresh.statuses);
}

function mutate<K extends Parameters<ResourceStore["upsert"]>[0]>(
  store: ResourceStore,
  kind: K,
  namespace: string,
  name: string,
  change: (obj: Record<string, unknown>) => void,
): void {
  const current = store.get(kind, namespace, name);
  if (current === undefined) throw new Error(`${kind} ${namespace}/${name} not in the store`);
  const copy = structuredClone(current) as unknown as Record<string, unknown>;
  change(copy);
  store.upsert(kind, copy as unknown as AnyStoredObject as never);
}

type Spec = Record<string, unknown> & { spec: Record<string, never> };

// Every conformance test's manifests translated twice: seconds when idle, minutes on a loaded machine.
describe("incremental translation equals a fresh translation", { timeout: 300_000 }, () => {
  it("on the generated configuration, through edits of every kind translation reads", async () => {
    const store = generate(SIZE);
    const cache = new PipelineCache();
    expect(await checkStep(store, cache, "initial")).toBeGreaterThan(SIZE.routes);
    const steps: [string, () => void][] = [
      ["statuses written back (status-only changes)", () => {}],
      ["one route's paths change", () => store.upsert("HTTPRoute", route(7, SIZE, 1))],
      ["a route is deleted", () => store.delete("HTTPRoute", "team-8", "route-8")],
      ["the route comes back", () => store.upsert("HTTPRoute", route(8, SIZE))],
      [
        "a route moves to another Gateway",
        () =>
          mutate(store, "HTTPRoute", "team-9", "route-9", (o) => {
            (o as Spec).spec.parentRefs = [{ name: "gw-1", namespace: "infra" }] as never;
          }),
      ],
      [
        "a route binds to one listener by sectionName",
        () =>
          mutate(store, "HTTPRoute", "team-10", "route-10", (o) => {
            (o as Spec).spec.parentRefs = [{ name: "gw-4", namespace: "infra", sectionName: "alt" }] as never;
          }),
      ],
      [
        "a Service loses the port routes use",
        () =>
          mutate(store, "Service", "team-1", "svc-1", (o) => {
            (o as Spec).spec.ports = [{ name: "http", port: 81, targetPort: 8080 }] as never;
          }),
      ],
      [
        "the port comes back",
        () =>
          mutate(store, "Service", "team-1", "svc-1", (o) => {
            (o as Spec).spec.ports = [{ name: "http", port: 80, targetPort: 8080 }] as never;
          }),
      ],
      [
        "an endpoint stops being ready",
        () =>
          mutate(store, "EndpointSlice", "team-2", "svc-2-1", (o) => {
            const eps = o.endpoints as { conditions: { ready: boolean } }[];
            if (eps[0] !== undefined) eps[0].conditions.ready = false;
          }),
      ],
      ["an EndpointSlice is deleted", () => store.delete("EndpointSlice", "team-3", "svc-3-1")],
      ["a Service is deleted", () => store.delete("Service", "team-4", "svc-4")],
      [
        "a Gateway listener gets a hostname",
        () =>
          mutate(store, "Gateway", "infra", "gw-2", (o) => {
            const listeners = (o as Spec).spec.listeners as unknown as { hostname?: string }[];
            if (listeners[0] !== undefined) listeners[0].hostname = "app-2.example.com";
            o.metadata = { ...(o.metadata as object), generation: 2 };
          }),
      ],
      [
        "a Gateway listener moves to another port",
        () =>
          mutate(store, "Gateway", "infra", "gw-0", (o) => {
            const listeners = (o as Spec).spec.listeners as unknown as { port: number }[];
            if (listeners[1] !== undefined) listeners[1].port = 8081;
            o.metadata = { ...(o.metadata as object), generation: 2 };
          }),
      ],
      [
        "a Gateway only allows routes from namespaces with a label",
        () =>
          mutate(store, "Gateway", "infra", "gw-3", (o) => {
            const listeners = (o as Spec).spec.listeners as unknown as Record<string, unknown>[];
            for (const l of listeners)
              l.allowedRoutes = {
                namespaces: { from: "Selector", selector: { matchLabels: { team: "a" } } },
              };
            o.metadata = { ...(o.metadata as object), generation: 2 };
          }),
      ],
      [
        "a namespace gets that label",
        () =>
          store.upsert("Namespace", {
            apiVersion: "v1",
            kind: "Namespace",
            metadata: { name: "team-3", labels: { team: "a" } },
          } as never),
      ],
      [
        "a namespace's ReferenceGrants are deleted",
        () => {
          for (const part of [0, 1, 2, 3]) store.delete("ReferenceGrant", "team-5", `from-teams-${part}`);
        },
      ],
      [
        "a Gateway is deleted",
        () => {
          store.delete("Gateway", "infra", "gw-5");
        },
      ],
      [
        "a Gateway of another class appears",
        () =>
          store.upsert("Gateway", {
            apiVersion: "gateway.networking.k8s.io/v1",
            kind: "Gateway",
            metadata: { name: "gw-5", namespace: "infra", generation: 1 },
            spec: { gatewayClassName: "other", listeners: [{ name: "http", port: 80, protocol: "HTTP" }] },
          } as never),
      ],
      [
        "the GatewayClass changes controller",
        () =>
          mutate(store, "GatewayClass", "", "strait", (o) => {
            (o as Spec).spec.controllerName = "example.com/other" as never;
          }),
      ],
      [
        "and back",
        () =>
          mutate(store, "GatewayClass", "", "strait", (o) => {
            (o as Spec).spec.controllerName = "strait.dev/gateway-controller" as never;
          }),
      ],
    ];
    let minute = 1;
    for (const [name, apply] of steps) {
      apply();
      await checkStep(store, cache, name, new Date(NOW.getTime() + 60_000 * minute++));
    }
  });

  it("on the conformance manifests, applied one test after another onto one store", async () => {
    const dir = gatewayApiDir();
    const catalogue = loadCatalogue(dir);
    const options = await straitHarnessOptions(dir, catalogue);
    const tests = catalogue.tests.filter((t) => t.baseManifests.includes("base/manifests.yaml"));
    expect(tests.length).toBeGreaterThan(50);
    const { cluster: first } = newCluster(options, tests[0] as (typeof tests)[number]);
    const store = first.store;
    const cache = new PipelineCache();
    let minute = 0;
    for (const test of tests) {
      const { cluster } = newCluster(options, test);
      // Make the store hold exactly this test's objects, as a re-list would.
      for (const kind of KIND_NAMES) {
        const objects = cluster.store
          .keys(kind)
          .map((k) => cluster.store.get(kind, k.namespace, k.name))
          .filter((o) => o !== undefined);
        store.replaceKind(kind, objects);
      }
      await checkStep(store, cache, test.name, new Date(NOW.getTime() + 60_000 * minute++));
      // A second pass after the status write-back must agree too.
      await checkStep(
        store,
        cache,
        `${test.name} (statuses written)`,
        new Date(NOW.getTime() + 60_000 * minute++),
      );
    }
    // Every catalogue test (HTTP, TLS, gRPC), translated twice each way: about 15 s on an idle machine.
  }, 180_000);
});
