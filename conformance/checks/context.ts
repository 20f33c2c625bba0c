/**
 * What every check sees: the cluster stand-in (objects with the statuses the
 * controller wrote), the controller's name, and the traffic engine that
 * answers requests through the Envoy configuration strait generated.
 */
import type { KindName } from "../../src/resources/kinds.ts";
import type { AnyStoredObject } from "../../src/resources/objects.ts";
import type { CheckData, ConditionData, ObjectRefData } from "../catalogue.ts";
import type { Issued } from "../certificates.ts";
import type { ConformanceCluster } from "../cluster.ts";
import type { TrafficEngine } from "./traffic.ts";

export interface CheckContext {
  readonly cluster: ConformanceCluster;
  readonly controllerName: string;
  readonly gatewayClassName: string;
  readonly traffic: TrafficEngine;
  /** Certificates created for the programmatic objects, by `namespace/name`. */
  readonly issued: ReadonlyMap<string, Issued>;
}

export interface CheckOutcome {
  readonly ok: boolean;
  /** What was expected and what was found, for the report. */
  readonly message: string;
}

export type CheckFn = (ctx: CheckContext, check: CheckData) => CheckOutcome | Promise<CheckOutcome>;

export function pass(message = "ok"): CheckOutcome {
  return { ok: true, message };
}

export function fail(message: string): CheckOutcome {
  return { ok: false, message };
}

export interface ConditionLike {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  observedGeneration?: number;
}

export function objectOf(ctx: CheckContext, ref: ObjectRefData): AnyStoredObject | undefined {
  return ctx.cluster.store.get(ref.kind as KindName, ref.namespace ?? "", ref.name) as
    | AnyStoredObject
    | undefined;
}

export function statusOf(obj: AnyStoredObject | undefined): Record<string, unknown> {
  const status = (obj as { status?: unknown } | undefined)?.status;
  return status !== null && typeof status === "object" ? (status as Record<string, unknown>) : {};
}

export function conditionsOf(value: unknown): ConditionLike[] {
  const list = (value as { conditions?: unknown } | undefined)?.conditions;
  return Array.isArray(list) ? (list as ConditionLike[]) : [];
}

/** Checks one expected condition against a list; reason `(any)` matches any reason. */
export function matchCondition(
  actual: readonly ConditionLike[],
  expected: ConditionData,
): string | undefined {
  const found = actual.find((c) => c.type === expected.type);
  if (found === undefined) {
    return `no ${expected.type} condition (have ${actual.map((c) => `${c.type}=${c.status}/${c.reason}`).join(", ") || "none"})`;
  }
  if (found.status !== expected.status || (expected.reason !== "(any)" && found.reason !== expected.reason)) {
    return `${expected.type}=${found.status}/${found.reason}, want ${expected.status}/${expected.reason}`;
  }
  return undefined;
}

export function formatRef(ref: ObjectRefData): string {
  return `${ref.kind} ${ref.namespace === undefined ? "" : `${ref.namespace}/`}${ref.name}`;
}

/** `ns/name` or `ns/name port 443` or `ns/name (listener x)` from a check's `via`. */
export function parseVia(via: unknown): {
  namespace: string;
  name: string;
  port?: number;
  listener?: string;
} {
  const text = String(via ?? "");
  const m =
    /^([^/\s]+)\/([^\s]+)(?: \(address without port\))?(?: port (\d+))?(?: \(listener ([^)]+)\))?$/.exec(
      text,
    );
  if (m === null) throw new Error(`cannot read via "${text}"`);
  return {
    namespace: m[1] ?? "",
    name: m[2] ?? "",
    ...(m[3] === undefined ? {} : { port: Number(m[3]) }),
    ...(m[4] === undefined ? {} : { listener: m[4] }),
  };
}
