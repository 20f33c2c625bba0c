/**
 * The pods and nodes a pass works on: every pod with a pod IP (not host
 * network, not finished) is a workload with its identity-relevant labels and
 * named ports; every node has its addresses. Label sets are remembered per
 * pod object and namespace labels, so an unchanged pod costs a map look-up.
 */

import type { ResourceRef } from "../model/resource-ref.ts";
import { parseIpv4 } from "../net/ipv4.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import type { LabelSet } from "./labels.ts";
import { namespaceLabels, podLabels } from "./workload-labels.ts";

export interface NamedPort {
  readonly port: number;
  readonly protocol: "TCP" | "UDP" | "SCTP";
}

export interface Workload {
  /** `namespace/name`. */
  readonly key: string;
  readonly namespace: string;
  readonly name: string;
  readonly node: string | undefined;
  /** IPv4 pod IPs. */
  readonly ips: readonly string[];
  readonly labels: LabelSet;
  /** The pod's own labels, unfiltered (what a Service's selector reads). */
  readonly podLabels: Readonly<Record<string, string>>;
  /** Container ports by (lower-case) name. */
  readonly namedPorts: ReadonlyMap<string, readonly NamedPort[]>;
  readonly source: ResourceRef;
}

export interface NodeInfo {
  readonly name: string;
  /** IPv4 InternalIP and ExternalIP addresses. */
  readonly ips: readonly string[];
}

interface PodLike {
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: { ports?: { name?: string; containerPort?: number; protocol?: string }[] }[];
  };
  status?: { podIP?: string; podIPs?: { ip?: string }[]; phase?: string };
}

function ipv4s(values: readonly (string | undefined)[]): string[] {
  return [...new Set(values.filter((v): v is string => v !== undefined && parseIpv4(v).ok))];
}

function namedPortsOf(pod: PodLike): Map<string, NamedPort[]> {
  const out = new Map<string, NamedPort[]>();
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (typeof p.name !== "string" || p.name === "" || typeof p.containerPort !== "number") continue;
      const protocol = (p.protocol ?? "TCP").toUpperCase();
      if (protocol !== "TCP" && protocol !== "UDP" && protocol !== "SCTP") continue;
      const name = p.name.toLowerCase();
      const list = out.get(name) ?? [];
      list.push({ port: p.containerPort, protocol });
      out.set(name, list);
    }
  }
  return out;
}

export class WorkloadCache {
  readonly #memo = new WeakMap<object, { nsKey: string; cluster: string; workload: Workload | undefined }>();

  workload(
    pod: ObjectOf<"Pod">,
    ns: Readonly<Record<string, string>>,
    clusterName: string,
  ): Workload | undefined {
    const nsKey = JSON.stringify(ns);
    const hit = this.#memo.get(pod);
    if (hit !== undefined && hit.nsKey === nsKey && hit.cluster === clusterName) return hit.workload;
    const workload = build(pod, ns, clusterName);
    this.#memo.set(pod, { nsKey, cluster: clusterName, workload });
    return workload;
  }
}

function build(
  pod: ObjectOf<"Pod">,
  ns: Readonly<Record<string, string>>,
  clusterName: string,
): Workload | undefined {
  const p = pod as unknown as PodLike;
  if (p.spec?.hostNetwork === true) return undefined;
  if (p.status?.phase === "Succeeded" || p.status?.phase === "Failed") return undefined;
  const ips = ipv4s([p.status?.podIP, ...(p.status?.podIPs ?? []).map((x) => x.ip)]);
  if (ips.length === 0) return undefined;
  const namespace = pod.metadata.namespace ?? "default";
  return {
    key: `${namespace}/${pod.metadata.name}`,
    namespace,
    name: pod.metadata.name,
    node: p.spec?.nodeName,
    ips,
    labels: podLabels(pod, ns, clusterName),
    podLabels: pod.metadata.labels ?? {},
    namedPorts: namedPortsOf(p),
    source: { group: "", kind: "Pod", namespace, name: pod.metadata.name },
  };
}

export function collectWorkloads(view: ResourceView, clusterName: string, cache: WorkloadCache): Workload[] {
  const nsLabels = new Map<string, Readonly<Record<string, string>>>();
  const labelsOf = (name: string) => {
    let labels = nsLabels.get(name);
    if (labels === undefined) {
      labels = namespaceLabels(name, view.get("Namespace", "", name));
      nsLabels.set(name, labels);
    }
    return labels;
  };
  const out: Workload[] = [];
  for (const pod of view.list("Pod")) {
    const w = cache.workload(pod, labelsOf(pod.metadata.namespace ?? "default"), clusterName);
    if (w !== undefined) out.push(w);
  }
  return out;
}

export function collectNodes(view: ResourceView, workloads: readonly Workload[]): NodeInfo[] {
  const nodes = new Map<string, NodeInfo>();
  for (const n of view.list("Node")) {
    const addresses = (n.status as { addresses?: { type?: string; address?: string }[] } | undefined)
      ?.addresses;
    const ips = ipv4s(
      (addresses ?? [])
        .filter((a) => a.type === "InternalIP" || a.type === "ExternalIP")
        .map((a) => a.address),
    );
    nodes.set(n.metadata.name, { name: n.metadata.name, ips });
  }
  for (const w of workloads) {
    if (w.node !== undefined && w.node !== "" && !nodes.has(w.node))
      nodes.set(w.node, { name: w.node, ips: [] });
  }
  return [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
