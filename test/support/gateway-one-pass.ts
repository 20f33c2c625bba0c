/**
 * Test support for the gateway stage: manifests as YAML text → one pass →
 * statuses looked up by kind and name. Used by the spec-class tests beside
 * the stage; not imported by the stage itself.
 */

import { type GatewayOptions, type GatewayOutput, translateGateways } from "../../src/gateway/index.ts";
import type { Condition, ObjectStatus } from "../../src/model/status.ts";
import { parseManifestText } from "../../src/sources/manifests.ts";
import { ResourceStore } from "../../src/sources/store.ts";
import { statusesSchemaProblems } from "./status-schema.ts";

export const TEST_NOW = new Date("2026-01-01T00:00:00Z");

/** The GatewayClass every case uses, and two namespaces (`infra` labelled tier=infra, `apps`). */
export const BASE = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: { name: strait }
spec: { controllerName: strait.dev/gateway-controller }
---
apiVersion: v1
kind: Namespace
metadata: { name: infra, labels: { tier: infra } }
---
apiVersion: v1
kind: Namespace
metadata: { name: apps }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: apps }
spec: { ports: [{ port: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: infra }
spec: { ports: [{ port: 8080 }] }
`;

export function storeOf(...texts: string[]): ResourceStore {
  const store = new ResourceStore();
  for (const [i, text] of texts.entries()) {
    const set = parseManifestText(`case-${i}.yaml`, text);
    if (set.diagnostics.length > 0) throw new Error(JSON.stringify(set.diagnostics));
    for (const o of set.objects) store.upsert(o.kind, o.object);
  }
  return store;
}

/**
 * One pass of the gateway stage. Every status it writes must validate against
 * the CRDs' status schemas (test/support/status-schema.ts): a test that
 * produces one the API server would refuse fails here.
 */
export function onePass(store: ResourceStore, options: Partial<GatewayOptions> = {}): GatewayOutput {
  const out = translateGateways(store, { now: TEST_NOW, addressPool: ["127.0.1.0/24"], ...options });
  const problems = statusesSchemaProblems(out.statuses);
  if (problems.length > 0) throw new Error(`statuses the CRDs refuse:\n${problems.join("\n")}`);
  return out;
}

export function statusOf(out: GatewayOutput, kind: string, namespace: string, name: string): ObjectStatus {
  const s = out.statuses.find(
    (x) => x.ref.kind === kind && x.ref.namespace === namespace && x.ref.name === name,
  );
  if (s === undefined) throw new Error(`no status for ${kind} ${namespace}/${name}`);
  return s;
}

export function conditionOf(conditions: unknown, type: string): Condition | undefined {
  return (conditions as Condition[] | undefined)?.find((c) => c.type === type);
}

interface ListenerStatusLike {
  name: string;
  attachedRoutes: number;
  conditions: Condition[];
}

export function listenerOf(status: ObjectStatus, name: string): ListenerStatusLike {
  const l = (status.status.listeners as ListenerStatusLike[] | undefined)?.find((x) => x.name === name);
  if (l === undefined) throw new Error(`no listener ${name} in ${status.ref.name}`);
  return l;
}

interface ParentStatusLike {
  parentRef: { kind?: string; name: string; namespace?: string; sectionName?: string };
  conditions: Condition[];
}

/** The route's parent entries (ours and others'). */
export function parentsOf(status: ObjectStatus): ParentStatusLike[] {
  return (status.status.parents as ParentStatusLike[] | undefined) ?? [];
}
