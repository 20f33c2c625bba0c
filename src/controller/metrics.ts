/**
 * The controller's Prometheus metrics. One registry per process (not the
 * global default), so tests can run several controllers side by side.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { KIND_NAMES } from "../resources/kinds.ts";
import type { ResourceStore } from "../sources/store.ts";

export interface ControllerMetrics {
  readonly registry: Registry;
  readonly reconciles: Counter<"result">;
  readonly reconcileDuration: Histogram;
  readonly invalidObjects: Gauge;
  readonly excludedParts: Gauge<"part">;
}

export function createControllerMetrics(store: ResourceStore): ControllerMetrics {
  const registry = new Registry();
  const reconciles = new Counter({
    name: "strait_reconcile_total",
    help: "Reconciles run, by result (success or error).",
    labelNames: ["result"] as const,
    registers: [registry],
  });
  const reconcileDuration = new Histogram({
    name: "strait_reconcile_duration_seconds",
    help: "Time to run the pipeline once, from the change batch to published config and status.",
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  new Gauge({
    name: "strait_objects",
    help: "Objects in the store, by kind.",
    labelNames: ["kind"] as const,
    registers: [registry],
    collect() {
      const counts = store.counts();
      for (const kind of KIND_NAMES) this.set({ kind }, counts[kind]);
    },
  });
  const invalidObjects = new Gauge({
    name: "strait_invalid_objects",
    help: "Objects left out because they failed schema validation or could not be parsed.",
    registers: [registry],
  });
  const excludedParts = new Gauge({
    name: "strait_excluded_parts",
    help: "Parts of the Envoy configuration left out because they do not encode (route, endpoint, tlsChain, cluster, listener, secret); the rest is served.",
    labelNames: ["part"] as const,
    registers: [registry],
  });
  return { registry, reconciles, reconcileDuration, invalidObjects, excludedParts };
}
