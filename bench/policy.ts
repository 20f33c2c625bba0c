/**
 * The policy stage at scale: 10,000 pods on 100 nodes, 2,000
 * CiliumNetworkPolicies with label selectors and HTTP rules (some with
 * deny and egress rules), through the pipeline the controller runs (policy
 * stage, then each node's agent resources and L7 Envoy listeners). Measures
 * a full pass, one-CNP changes with the pipeline's cache kept, the heap, and
 * each node's output size after strict protobuf encoding.
 *
 *   node --expose-gc bench/policy.ts [--pods N] [--policies N] [--nodes N] [--changes N]
 */
import { parseArgs } from "node:util";
import { PipelineCache, runPipeline } from "../src/controller/pipeline.ts";
import type { AnyStoredObject } from "../src/resources/objects.ts";
import { ResourceStore } from "../src/sources/store.ts";
import { encodeResource } from "../src/xds/proto/index.ts";

const { values } = parseArgs({
  options: {
    pods: { type: "string", default: "10000" },
    policies: { type: "string", default: "2000" },
    nodes: { type: "string", default: "100" },
    changes: { type: "string", default: "20" },
  },
});
const PODS = Number(values.pods);
const POLICIES = Number(values.policies);
const NODES = Number(values.nodes);
const CHANGES = Number(values.changes);
const NAMESPACES = 50;
const APPS = 200;

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(0);
}

function objects(): AnyStoredObject[] {
  const out: Record<string, unknown>[] = [];
  for (let n = 0; n < NODES; n++) {
    out.push({
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: `node-${n}` },
      status: { addresses: [{ type: "InternalIP", address: `192.168.${n >> 8}.${n & 255}` }] },
    });
  }
  for (let ns = 0; ns < NAMESPACES; ns++) {
    out.push({
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: `ns-${ns}`, labels: { team: `t${ns % 10}` } },
    });
  }
  for (let i = 0; i < PODS; i++) {
    const app = i % APPS;
    out.push({
      apiVersion: "v1",
      kind: "Pod",
      metadata: {
        name: `app-${app}-${i}`,
        namespace: `ns-${app % NAMESPACES}`,
        labels: {
          app: `app-${app}`,
          tier: `tier-${app % 4}`,
          version: `v${i % 5}`,
          "pod-template-hash": `h${i % 97}`,
        },
      },
      spec: {
        nodeName: `node-${i % NODES}`,
        containers: [{ name: "c", image: "x", ports: [{ name: "http", containerPort: 8080 }] }],
      },
      status: { podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, phase: "Running" },
    });
  }
  for (let p = 0; p < POLICIES; p++) out.push(policy(p, 0));
  return out as unknown as AnyStoredObject[];
}

function policy(p: number, generation: number): Record<string, unknown> {
  const app = p % APPS;
  const spec: Record<string, unknown> = {
    endpointSelector: { matchLabels: { app: `app-${app}`, version: `v${p % 5}` } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { tier: `tier-${(p + 2) % 4}` } }],
        toPorts: [
          {
            ports: [{ port: "8080", protocol: "TCP" }],
            rules: {
              http: [
                { method: "GET", path: `/api/v${p % 7}/.*` },
                { method: "POST", path: `/submit/${p}/${generation}` },
              ],
            },
          },
        ],
      },
      {
        fromEndpoints: [{ matchLabels: { app: `app-${(app + NAMESPACES) % APPS}` } }],
        toPorts: [{ ports: [{ port: "9090" }] }],
      },
    ],
  };
  if (p % 10 === 0)
    spec.ingressDeny = [
      { fromEndpoints: [{ matchLabels: { version: "v4" } }], toPorts: [{ ports: [{ port: "9090" }] }] },
    ];
  if (p % 3 === 0) {
    spec.egress = [
      {
        toEndpoints: [{ matchLabels: { "k8s:io.kubernetes.pod.namespace": `ns-${(app + 1) % NAMESPACES}` } }],
      },
      {
        toCIDRSet: [{ cidr: `172.${16 + (p % 16)}.0.0/16`, except: [`172.${16 + (p % 16)}.1.0/24`] }],
        toPorts: [{ ports: [{ port: "443" }] }],
      },
    ];
  }
  return {
    apiVersion: "cilium.io/v2",
    kind: "CiliumNetworkPolicy",
    metadata: { name: `cnp-${p}`, namespace: `ns-${app % NAMESPACES}`, generation: generation + 1 },
    spec,
  };
}

const store = new ResourceStore();
for (const o of objects()) store.upsert(o.kind as never, o as never);
gc();
const baseHeap = process.memoryUsage().heapUsed;

const cache = new PipelineCache();
let t0 = performance.now();
let out = runPipeline(store, { now: new Date(), addressPool: [], cache });
const cold = performance.now() - t0;
const peak = process.memoryUsage().heapUsed;
t0 = performance.now();
runPipeline(store, { now: new Date(), addressPool: [] });
const warmNoCache = performance.now() - t0;

const sizes: number[] = [];
let entries = 0;
let l7 = 0;
for (const [, resources] of out.nodeResources) {
  let bytes = 0;
  for (const [typeUrl, byName] of Object.entries(resources)) {
    for (const [name, json] of byName) {
      const r = encodeResource(typeUrl, json);
      if (r.bytes === undefined)
        throw new Error(`${typeUrl} ${name}: ${r.issues.map((i) => i.message).join("; ")}`);
      bytes += r.bytes.length;
    }
  }
  sizes.push(bytes);
}
for (const n of out.policy.nodes) {
  for (const p of n.policies) entries += p.entries.length;
  l7 += n.l7.length;
}
sizes.sort((a, b) => a - b);

gc();
const changes: number[] = [];
for (let i = 0; i < CHANGES; i++) {
  const p = (i * 37) % POLICIES;
  store.upsert("CiliumNetworkPolicy", policy(p, i + 1) as never);
  t0 = performance.now();
  out = runPipeline(store, { now: new Date(), addressPool: [], cache });
  changes.push(performance.now() - t0);
}
changes.sort((a, b) => a - b);
gc();
const live = process.memoryUsage().heapUsed;
const q = (list: number[], f: number) =>
  list[Math.min(list.length - 1, Math.floor(f * list.length))] ?? Number.NaN;

console.log(
  JSON.stringify(
    {
      pods: PODS,
      policies: POLICIES,
      nodes: NODES,
      identities: out.policy.identities.length,
      invalid: out.policy.invalid.length,
      policyEntries: entries,
      l7Policies: l7,
      fullPassColdMs: Math.round(cold),
      fullPassNoCacheMs: Math.round(warmNoCache),
      oneChangeMs: {
        p50: Math.round(q(changes, 0.5)),
        p90: Math.round(q(changes, 0.9)),
        max: Math.round(q(changes, 1)),
      },
      heapMiB: { objects: mib(baseHeap), peakAfterFirstPass: mib(peak), liveAfterChanges: mib(live) },
      perNodeEncodedKiB: { p50: (q(sizes, 0.5) / 1024).toFixed(0), max: (q(sizes, 1) / 1024).toFixed(0) },
    },
    null,
    2,
  ),
);
