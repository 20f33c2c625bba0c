/**
 * `toServices` peers: the Services a rule names (by name, or by a selector
 * of their labels), and what they stand for. A Service with a pod selector
 * stands for its pods' identities; one without (an external service with
 * hand-written EndpointSlices) for its endpoint addresses, as /32 CIDR
 * identities, which is how Cilium treats selector-less Services.
 */
import { parseIpv4 } from "../net/ipv4.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { LabelSet, SOURCE } from "./labels.ts";
import type { ServicePeer } from "./rule.ts";
import { selectorMatches } from "./selector.ts";
import type { Workload } from "./workloads.ts";

export function servicesOf(view: ResourceView, peer: ServicePeer): ObjectOf<"Service">[] {
  const candidates =
    peer.namespace === undefined ? view.list("Service") : view.list("Service", peer.namespace);
  return candidates.filter((svc) => {
    if (peer.name !== undefined) return svc.metadata.name === peer.name;
    if (peer.selector === undefined) return false;
    const labels = new LabelSet(
      Object.entries(svc.metadata.labels ?? {}).map(([key, value]) => ({ source: SOURCE.k8s, key, value })),
    );
    return selectorMatches(peer.selector, labels);
  });
}

export function podSelectorOf(svc: ObjectOf<"Service">): Readonly<Record<string, string>> | undefined {
  const selector = (svc.spec as { selector?: Record<string, string> } | undefined)?.selector;
  return selector === undefined || Object.keys(selector).length === 0 ? undefined : selector;
}

/** The pods a Service's selector picks (same namespace, every selector label equal). */
export function serviceWorkloads(svc: ObjectOf<"Service">, workloads: readonly Workload[]): Workload[] {
  const selector = podSelectorOf(svc);
  if (selector === undefined) return [];
  const ns = svc.metadata.namespace ?? "default";
  return workloads.filter(
    (w) => w.namespace === ns && Object.entries(selector).every(([k, v]) => w.podLabels[k] === v),
  );
}

/** IPv4 endpoint addresses of a Service's EndpointSlices. */
export function serviceAddresses(view: ResourceView, svc: ObjectOf<"Service">): string[] {
  const key = `${svc.metadata.namespace ?? "default"}/${svc.metadata.name}`;
  const out = new Set<string>();
  for (const slice of view.byIndex("endpointSlicesByService", key)) {
    const endpoints = (slice as ObjectOf<"EndpointSlice">).endpoints ?? [];
    for (const e of endpoints) for (const a of e.addresses ?? []) if (parseIpv4(a).ok) out.add(a);
  }
  return [...out].sort();
}
