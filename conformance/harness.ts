/**
 * Runs one conformance test as the upstream suite does: a cluster with the
 * GatewayClass, the base manifests and the programmatic objects, then the
 * test's manifests; the controller reconciles (statuses written back through
 * the status subresource, until they settle); then each check in order, with
 * the test's scripted mutations (patches, deletions) applied between checks.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ObjectStatus } from "../src/model/status.ts";
import { isKindName } from "../src/resources/kinds.ts";
import type { AnyStoredObject } from "../src/resources/objects.ts";
import type { ResourceView } from "../src/resources/view.ts";
import { type ManifestSet, parseManifestText } from "../src/sources/manifests.ts";
import type { SchemaCheck } from "../src/sources/schema.ts";
import { carryTransitionTimes } from "../src/sources/status/transition-times.ts";
import type { EnvoyResourceSet } from "../src/xds/translate/resource-set.ts";
import type { CheckData, TestData } from "./catalogue.ts";
import type { Issued } from "./certificates.ts";
import type { CheckContext, CheckFn, CheckOutcome } from "./checks/context.ts";
import { STATUS_CHECKS } from "./checks/status-checks.ts";
import type { TrafficEngine } from "./checks/traffic.ts";
import { linkNeighbours, meshClientNamespaces, TRAFFIC_CHECKS } from "./checks/traffic-checks.ts";
import { ConformanceCluster } from "./cluster.ts";
import type { NoteCheck } from "./mutations.ts";
import { resolvePlaceholders } from "./placeholders.ts";

/**
 * What the runner needs from strait: one reconcile, and traffic through its
 * Envoy config (the engine is ready once the data plane runs that config:
 * for a real Envoy, once it ACKed it).
 */
export interface ConformanceTarget {
  reconcile(
    view: ResourceView,
    now: Date,
  ): {
    readonly statuses: readonly ObjectStatus[];
    readonly resources: EnvoyResourceSet;
    /** Objects the controller creates (applied to the cluster as it would). */
    readonly ownedObjects: readonly Record<string, unknown>[];
  };
  traffic(resources: EnvoyResourceSet, cluster: ConformanceCluster): Promise<TrafficEngine>;
}

export interface HarnessOptions {
  readonly manifestsDir: string;
  readonly gatewayClassName: string;
  readonly controllerName: string;
  readonly usableAddress: string;
  readonly unusableAddress: string;
  readonly schemaCheck: SchemaCheck;
  readonly programmatic: readonly Record<string, unknown>[];
  readonly issued: ReadonlyMap<string, Issued>;
}

/** A change the upstream test makes between checks (the catalogue states these in its notes). */
export interface Mutation {
  /** Index of the check before which the change is made. */
  readonly beforeCheck: number;
  apply(cluster: ConformanceCluster): void;
}

export interface CheckResult {
  readonly index: number;
  readonly check: string;
  readonly subtest?: string;
  readonly outcome: CheckOutcome;
}

export interface TestResult {
  readonly name: string;
  readonly passed: boolean;
  readonly checks: readonly CheckResult[];
  /** Problems outside any check (manifests that failed to load, a reconcile that threw). */
  readonly errors: readonly string[];
}

const CHECKS: Readonly<Record<string, CheckFn>> = { ...STATUS_CHECKS, ...TRAFFIC_CHECKS };

export function readManifests(options: HarnessOptions, relative: string): ManifestSet {
  const file = join(options.manifestsDir, relative);
  const text = readFileSync(file, "utf8")
    .replaceAll("{GATEWAY_CLASS_NAME}", options.gatewayClassName)
    .replaceAll("{GATEWAY_CONTROLLER_NAME}", options.controllerName)
    .replaceAll("PLACEHOLDER_USABLE_ADDRS", options.usableAddress)
    .replaceAll("PLACEHOLDER_UNUSABLE_ADDRS", options.unusableAddress);
  return parseManifestText(file, text, { check: options.schemaCheck });
}

/**
 * A Service spec without the fields the API server allocates (the ClusterIP):
 * the controller leaves them unset, and an apply without them keeps them.
 */
function withoutAllocated(spec: object | undefined): Record<string, unknown> {
  const { clusterIP: _ip, clusterIPs: _ips, ...rest } = (spec ?? {}) as Record<string, unknown>;
  return rest;
}

/** Runs the controller until the statuses it writes no longer change (at most a few rounds). */
export function settle(
  target: ConformanceTarget,
  cluster: ConformanceCluster,
): { resources: EnvoyResourceSet; errors: string[] } {
  const errors: string[] = [];
  let resources: EnvoyResourceSet | undefined;
  for (let round = 0; round < 4; round++) {
    const output = target.reconcile(cluster.store, cluster.now());
    resources = output.resources;
    let changed = 0;
    for (const obj of output.ownedObjects) {
      const meta = obj.metadata as { name: string; namespace?: string };
      if (obj.kind !== "Service") continue;
      const current = cluster.store.get("Service", meta.namespace ?? "", meta.name);
      if (
        current !== undefined &&
        JSON.stringify({ ...current.metadata.labels }) ===
          JSON.stringify((obj.metadata as { labels?: unknown }).labels) &&
        JSON.stringify(withoutAllocated(current.spec)) ===
          JSON.stringify(withoutAllocated(obj.spec as object | undefined))
      )
        continue;
      cluster.put("Service", obj as unknown as AnyStoredObject);
      changed++;
    }
    for (const s of output.statuses) {
      if (!isKindName(s.ref.kind)) continue;
      const current = cluster.store.get(s.ref.kind, s.ref.namespace, s.ref.name) as
        | { status?: unknown }
        | undefined;
      if (current === undefined) continue;
      // As strait's status writers do: transition times of conditions that hold are the object's.
      const status = carryTransitionTimes(current.status, s.status);
      if (JSON.stringify(current.status ?? {}) === JSON.stringify(status)) continue;
      cluster.putStatus(s.ref.kind, s.ref.namespace, s.ref.name, status);
      changed++;
    }
    if (changed === 0) return { resources, errors };
  }
  errors.push("statuses did not settle after 4 reconciles");
  return { resources: resources ?? ({} as EnvoyResourceSet), errors };
}

export function newCluster(
  options: HarnessOptions,
  test: TestData,
): { cluster: ConformanceCluster; errors: string[] } {
  const cluster = new ConformanceCluster(new Date("2026-01-01T00:00:00Z"));
  const errors: string[] = [];
  const gatewayClass = parseManifestText(
    "(runner)",
    JSON.stringify({
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "GatewayClass",
      metadata: { name: options.gatewayClassName },
      spec: { controllerName: options.controllerName },
    }),
    { check: options.schemaCheck },
  );
  cluster.apply(gatewayClass.objects);
  const programmatic = parseManifestText(
    "(programmatic).json",
    JSON.stringify({ apiVersion: "v1", kind: "List", items: options.programmatic }),
    {
      check: options.schemaCheck,
    },
  );
  for (const relative of [...test.baseManifests, ...test.manifests]) {
    const set = readManifests(options, relative);
    for (const d of set.diagnostics) errors.push(`${relative}: ${d.path ?? ""} ${d.message}`);
    cluster.apply(set.objects, set.ignored);
    if (test.baseManifests.includes(relative)) cluster.apply(programmatic.objects);
  }
  // The Pods the mesh checks send from, in the order their addresses are given (sorted namespaces).
  for (const namespace of meshClientNamespaces(test.checks)) cluster.addMeshClient(namespace);
  return { cluster, errors };
}

/**
 * Some catalogue entries leave an object reference empty where the Go test uses a
 * variable (`ref: {}`); the object is the one the neighbouring checks of the same
 * kind name.
 */
function fillMissingRefs(checks: readonly CheckData[]): CheckData[] {
  return checks.map((check, i) => {
    const object = check.object as { kind?: string; name?: string } | undefined;
    if (object === undefined || object.name !== undefined) return check;
    const near = [...checks.slice(i + 1), ...checks.slice(0, i).reverse()];
    for (const other of near) {
      for (const value of Object.values(other)) {
        const ref = value as { kind?: string; name?: string; namespace?: string } | undefined;
        if (
          ref !== null &&
          typeof ref === "object" &&
          ref.kind === object.kind &&
          typeof ref.name === "string"
        ) {
          return { ...check, object: ref };
        }
      }
    }
    return check;
  });
}

export async function runTest(
  target: ConformanceTarget,
  options: HarnessOptions,
  test: TestData,
  mutations: readonly Mutation[],
  noteChecks: readonly NoteCheck[] = [],
): Promise<TestResult> {
  const { cluster, errors } = newCluster(options, test);
  const placeheld = resolvePlaceholders(test.name, fillMissingRefs(test.checks), cluster);
  const checks = placeheld.checks;
  errors.push(...placeheld.errors);
  linkNeighbours(checks);
  const results: CheckResult[] = [];
  let state: { resources: EnvoyResourceSet; errors: string[] };
  try {
    state = settle(target, cluster);
  } catch (error) {
    return {
      name: test.name,
      passed: false,
      checks: [],
      errors: [...errors, `reconcile threw: ${(error as Error).stack ?? error}`],
    };
  }
  errors.push(...state.errors);
  let traffic: TrafficEngine;
  try {
    traffic = await target.traffic(state.resources, cluster);
  } catch (error) {
    return { name: test.name, passed: false, checks: [], errors: [...errors, (error as Error).message] };
  }
  for (const [index, check] of checks.entries()) {
    const due = mutations.filter((m) => m.beforeCheck === index);
    if (due.length > 0) {
      for (const m of due) m.apply(cluster);
      state = settle(target, cluster);
      errors.push(...state.errors);
      try {
        traffic = await target.traffic(state.resources, cluster);
      } catch (error) {
        errors.push((error as Error).message);
        break;
      }
    }
    const ctx: CheckContext = {
      cluster,
      controllerName: options.controllerName,
      gatewayClassName: options.gatewayClassName,
      traffic,
      issued: options.issued,
    };
    const fn = CHECKS[check.check];
    let outcome: CheckOutcome;
    if (fn === undefined) {
      outcome = { ok: false, message: `check type ${check.check} is not implemented by the runner` };
    } else {
      try {
        outcome = await fn(ctx, check);
      } catch (error) {
        outcome = { ok: false, message: `check threw: ${(error as Error).message}` };
      }
    }
    results.push({
      index,
      check: check.check,
      ...(check.subtest === undefined ? {} : { subtest: check.subtest }),
      outcome,
    });
  }
  for (const note of noteChecks) {
    results.push({ index: results.length, check: `note: ${note.name}`, outcome: note.run(cluster) });
  }
  return {
    name: test.name,
    passed: errors.length === 0 && results.every((r) => r.outcome.ok),
    checks: results,
    errors,
  };
}
