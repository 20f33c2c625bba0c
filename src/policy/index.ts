/**
 * The policy stage of the pipeline: CiliumNetworkPolicy and
 * CiliumClusterwideNetworkPolicy objects, Pods, Namespaces, Services and
 * Nodes → security identities and, per node, what it enforces (endpoints,
 * per-endpoint L3/L4 policy, L7 policies for its Envoy, the ipcache), plus a
 * `Valid` condition for every policy. Pure: the clock, the recorded
 * identities and the caches come in as options. Cilium's semantics
 * throughout; each file says which part of Cilium it follows.
 */

import type {
  HttpHeaderMatch,
  HttpRule,
  IdentityInfo,
  L7Policy,
  NodePolicy,
  SecurityIdentity,
} from "../model/endpoint-policy.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import type { Result } from "../model/result.ts";
import type { ObjectStatus } from "../model/status.ts";
import { parseIpv4Prefix } from "../net/ipv4.ts";
import type { ResourceView } from "../resources/view.ts";
import { type EncryptionOptions, withEncryption } from "./encryption.ts";
import { assignEndpointIds } from "./endpoint-ids.ts";
import { type EndpointRules, endpointRules, type PassContext } from "./endpoint-rules.ts";
import { allocateIdentities, cidrLabels, type Identity, type IdentityRecord } from "./identities.ts";
import { IdentityIndex, RuleIndex } from "./identity-index.ts";
import { identityRecordsOf, mergeRecords } from "./identity-objects.ts";
import { ClusterIpcache } from "./ipcache.ts";
import { type PolicyKind, parsePolicy } from "./parse-policy.ts";
import { policyStatus } from "./policy-status.ts";
import type { HttpRuleSpec, ParsedPolicy, PeerSet, PolicyProblem, PolicyRule } from "./rule.ts";
import { podSelectorOf, serviceAddresses, servicesOf, serviceWorkloads } from "./services.ts";
import { collectNodes, collectWorkloads, type NamedPort, type Workload, WorkloadCache } from "./workloads.ts";

export type { IdentityRecord } from "./identities.ts";
export { LOCAL_IDENTITY_FLAG, nextIdentityExpiry } from "./identities.ts";
export {
  type CiliumIdentityObject,
  IDENTITY_UNUSED_SINCE_ANNOTATION,
  identityObjects,
  isStraitIdentity,
} from "./identity-objects.ts";
export { VALID_CONDITION } from "./policy-status.ts";
export type { PolicyProblem, PolicyRule } from "./rule.ts";

/** Proxy ports strait gives the node's Envoy listeners: one for ingress HTTP rules, one for egress. */
export const DEFAULT_PROXY_PORTS = { ingress: 15001, egress: 15002 } as const;
/** How long an identity nothing uses keeps its number (Cilium's operator default GC interval). */
export const DEFAULT_IDENTITY_GC_MS = 15 * 60_000;
export const DEFAULT_CLUSTER_NAME = "default";

type ParseResult = Result<ParsedPolicy, PolicyProblem[]>;

/** Results kept between passes: parses per object, label sets per pod, endpoint ids, identity records. */
export class PolicyCache {
  readonly parsed = new WeakMap<object, { readonly cluster: string; readonly result: ParseResult }>();
  readonly workloads = new WorkloadCache();
  endpointIds = new Map<string, ReadonlyMap<string, number>>();
  records: readonly IdentityRecord[] = [];
}

export interface PolicyOptions {
  readonly now: Date;
  readonly clusterName?: string;
  /**
   * Identities recorded earlier; when omitted, those of the cache's previous
   * pass (or none). The CiliumIdentity objects of the view (the leader's
   * records in the API) come first: they win over these.
   */
  readonly records?: readonly IdentityRecord[];
  readonly identityGcAfterMs?: number;
  readonly proxyPorts?: { readonly ingress: number; readonly egress: number };
  readonly cache?: PolicyCache;
  /** `--auth-encryption envoy`: auth-required TCP flows between nodes go through the node Envoys' tunnel. */
  readonly encryption?: EncryptionOptions;
}

export interface EndpointSummary {
  readonly pod: string;
  readonly node: string | undefined;
  readonly ips: readonly string[];
  readonly identity: SecurityIdentity;
}

export interface InvalidPolicy {
  readonly ref: ResourceRef;
  readonly problems: readonly PolicyProblem[];
}

export interface PolicyOutput {
  /** Every identity in use, by id. */
  readonly identities: readonly IdentityInfo[];
  /** What to record (CiliumIdentity objects): in use, or unused within the grace period. */
  readonly records: readonly IdentityRecord[];
  readonly nodes: readonly NodePolicy[];
  readonly statuses: readonly ObjectStatus[];
  readonly invalid: readonly InvalidPolicy[];
  readonly warnings: readonly { readonly ref: ResourceRef; readonly message: string }[];
  /** The valid policies' rules, for `strait policy trace`. */
  readonly rules: readonly PolicyRule[];
  /** Every pod with an identity. */
  readonly endpoints: readonly EndpointSummary[];
  /** For traces, by `node|endpointId`: the rules selecting it and the rules behind each entry. */
  readonly explanations: ReadonlyMap<
    string,
    { readonly explain: ReadonlyMap<string, readonly string[]>; readonly selectedBy: readonly string[] }
  >;
}

function parseAll(view: ResourceView, cache: PolicyCache, clusterName: string, now: Date) {
  const statuses: ObjectStatus[] = [];
  const invalid: InvalidPolicy[] = [];
  const warnings: { ref: ResourceRef; message: string }[] = [];
  const rules: PolicyRule[] = [];
  const kinds: readonly PolicyKind[] = ["CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"];
  for (const kind of kinds) {
    for (const obj of view.list(kind)) {
      const token = view.specIdentity?.(kind, obj) ?? obj;
      let hit = cache.parsed.get(token);
      if (hit === undefined || hit.cluster !== clusterName) {
        hit = { cluster: clusterName, result: parsePolicy(obj, kind, { clusterName }) };
        cache.parsed.set(token, hit);
      }
      const result = hit.result;
      statuses.push(policyStatus(obj, kind, result, now));
      const ref: ResourceRef = {
        group: "cilium.io",
        kind,
        namespace: kind === "CiliumNetworkPolicy" ? (obj.metadata.namespace ?? "default") : "",
        name: obj.metadata.name,
      };
      if (!result.ok) invalid.push({ ref, problems: result.error });
      else {
        rules.push(...result.value.rules);
        for (const message of result.value.warnings) warnings.push({ ref, message });
      }
    }
  }
  return { statuses, invalid, warnings, rules };
}

function secretValue(view: ResourceView, namespace: string, name: string): string | undefined {
  const secret = view.get("Secret", namespace, name);
  const data = (secret as { data?: Record<string, string>; stringData?: Record<string, string> } | undefined)
    ?.data;
  const entries = Object.values(data ?? {});
  if (entries.length !== 1 || entries[0] === undefined) return undefined; // Cilium: exactly one entry
  return Buffer.from(entries[0], "base64").toString("utf8");
}

function httpResolver(view: ResourceView): (spec: HttpRuleSpec) => HttpRule {
  const memo = new Map<HttpRuleSpec, HttpRule>();
  return (spec) => {
    let rule = memo.get(spec);
    if (rule !== undefined) return rule;
    const headers: HttpHeaderMatch[] = spec.headers.map((h) => {
      const fromSecret =
        h.secret === undefined ? undefined : secretValue(view, h.secret.namespace, h.secret.name);
      const value = fromSecret ?? h.value;
      const base = { name: h.name, ...(h.mismatch === undefined ? {} : { mismatch: h.mismatch }) };
      if (h.secret !== undefined && value === undefined) return { ...base, never: true as const };
      return value === undefined ? base : { ...base, value };
    });
    rule = {
      ...(spec.method === undefined ? {} : { method: spec.method }),
      ...(spec.path === undefined ? {} : { path: spec.path }),
      ...(spec.host === undefined ? {} : { host: spec.host }),
      headers,
    };
    memo.set(spec, rule);
    return rule;
  };
}

/** Prefixes the rules name (CIDR selectors and their exceptions; 0.0.0.0/0 is the world, no identity). */
function ruleCidrs(rules: readonly PolicyRule[], view: ResourceView, out: Map<string, Identity["cidr"]>) {
  const seenServices = new Set<object>();
  for (const rule of rules) {
    for (const peer of rule.rules) {
      if (peer.peers.kind !== "some") continue;
      for (const s of peer.peers.selectors) {
        for (const r of s.requirements) if (r.prefix !== undefined) out.set(r.key, r.prefix);
      }
      for (const sp of peer.peers.services) {
        for (const svc of servicesOf(view, sp)) {
          if (seenServices.has(svc) || podSelectorOf(svc) !== undefined) continue;
          seenServices.add(svc);
          for (const ip of serviceAddresses(view, svc)) {
            const prefix = parseIpv4Prefix(`${ip}/32`);
            if (prefix.ok) out.set(`${ip}/32`, prefix.value);
          }
        }
      }
    }
  }
}

function namedPortIndex(workloads: readonly { workload: Workload; identity: number }[]): {
  byIdentity: Map<number, Map<string, NamedPort[]>>;
  all: Map<string, NamedPort[]>;
} {
  const byIdentity = new Map<number, Map<string, NamedPort[]>>();
  const all = new Map<string, NamedPort[]>();
  const add = (into: Map<string, NamedPort[]>, name: string, p: NamedPort) => {
    const list = into.get(name) ?? [];
    if (!list.some((x) => x.port === p.port && x.protocol === p.protocol)) list.push(p);
    into.set(name, list);
  };
  for (const { workload, identity } of workloads) {
    if (workload.namedPorts.size === 0) continue;
    let m = byIdentity.get(identity);
    if (m === undefined) {
      m = new Map();
      byIdentity.set(identity, m);
    }
    for (const [name, ports] of workload.namedPorts) {
      for (const p of ports) {
        add(m, name, p);
        add(all, name, p);
      }
    }
  }
  return { byIdentity, all };
}

function namedPortsKey(ports: ReadonlyMap<string, readonly NamedPort[]>): string {
  if (ports.size === 0) return "";
  return JSON.stringify([...ports.entries()].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function withEndpointId(rules: EndpointRules, id: number): EndpointRules {
  if (rules.policy.endpointId === id) return rules;
  return {
    ...rules,
    policy: { ...rules.policy, endpointId: id },
    l7: rules.l7.map((p): L7Policy => ({ ...p, endpointId: id })),
  };
}

export function computePolicy(view: ResourceView, options: PolicyOptions): PolicyOutput {
  const cache = options.cache ?? new PolicyCache();
  const clusterName = options.clusterName ?? DEFAULT_CLUSTER_NAME;
  const parsed = parseAll(view, cache, clusterName, options.now);

  const workloads = collectWorkloads(view, clusterName, cache.workloads);
  const nodes = collectNodes(view, workloads);
  const cidrs = new Map<string, Identity["cidr"]>();
  ruleCidrs(parsed.rules, view, cidrs);
  cidrs.delete("0.0.0.0/0");
  const recorded = identityRecordsOf(view.list("CiliumIdentity"));
  for (const p of recorded.problems) parsed.warnings.push(p);
  const allocation = allocateIdentities({
    workloads: workloads.map((w) => w.labels),
    cidrs: [...cidrs.values()].filter((c): c is NonNullable<typeof c> => c !== undefined),
    records: mergeRecords(recorded.records, options.records ?? cache.records),
    now: options.now,
    gcAfterMs: options.identityGcAfterMs ?? DEFAULT_IDENTITY_GC_MS,
  });
  cache.records = allocation.records;

  const identified = workloads.flatMap((workload) => {
    const identity = allocation.byLabels.get(workload.labels.id);
    return identity === undefined ? [] : [{ workload, identity: identity.id }];
  });
  const index = new IdentityIndex(allocation.identities.values());
  const ruleIndex = new RuleIndex(parsed.rules, index);
  const named = namedPortIndex(identified);
  const identityOfPod = new Map(identified.map((x) => [x.workload, x.identity]));
  const peerMemo = new Map<PeerSet, readonly SecurityIdentity[] | "any">();
  const ctx: PassContext = {
    index,
    rules: ruleIndex,
    peers(set) {
      if (set.kind === "all") return "any";
      let ids = peerMemo.get(set);
      if (ids === undefined) {
        const out = new Set<SecurityIdentity>();
        for (const s of set.selectors) for (const id of index.select(s)) out.add(id);
        for (const sp of set.services) {
          for (const svc of servicesOf(view, sp)) {
            if (podSelectorOf(svc) !== undefined) {
              for (const w of serviceWorkloads(svc, workloads)) {
                const id = identityOfPod.get(w);
                if (id !== undefined) out.add(id);
              }
            } else {
              for (const ip of serviceAddresses(view, svc)) {
                const prefix = parseIpv4Prefix(`${ip}/32`);
                const id = prefix.ok ? allocation.byLabels.get(cidrLabels(prefix.value).id)?.id : undefined;
                if (id !== undefined) out.add(id);
              }
            }
          }
        }
        ids = [...out].sort((a, b) => a - b);
        peerMemo.set(set, ids);
      }
      return ids;
    },
    namedPortsOf: (identity) => named.byIdentity.get(identity) ?? new Map(),
    allNamedPorts: named.all,
    http: httpResolver(view),
    proxyPorts: options.proxyPorts ?? DEFAULT_PROXY_PORTS,
  };

  const apiServer = view
    .byIndex("endpointSlicesByService", "default/kubernetes")
    .flatMap((s) =>
      ((s as { endpoints?: { addresses?: string[] }[] }).endpoints ?? []).flatMap((e) => e.addresses ?? []),
    );
  const ipcache = new ClusterIpcache({
    workloads: identified,
    nodes,
    apiServer,
    cidrs: [...allocation.identities.values()].filter((i) => i.kind === "cidr"),
  });
  const identities: IdentityInfo[] = index.identities.map((i) => ({ id: i.id, labels: i.labels.strings() }));

  const memo = new Map<string, EndpointRules>();
  const explanations = new Map<
    string,
    { readonly explain: ReadonlyMap<string, readonly string[]>; readonly selectedBy: readonly string[] }
  >();
  const nodePolicies: NodePolicy[] = [];
  const endpointIds = new Map<string, ReadonlyMap<string, number>>();
  for (const node of nodes) {
    const local = identified
      .filter((x) => x.workload.node === node.name)
      .sort((a, b) => (a.workload.key < b.workload.key ? -1 : 1));
    const ids = assignEndpointIds(
      local.map((x) => x.workload.key),
      cache.endpointIds.get(node.name),
    );
    endpointIds.set(node.name, ids);
    const endpoints = [];
    const policies = [];
    const l7 = [];
    for (const { workload, identity } of local) {
      const id = ids.get(workload.key);
      if (id === undefined) continue;
      const key = `${identity}|${namedPortsKey(workload.namedPorts)}`;
      let rules = memo.get(key);
      if (rules === undefined) {
        rules = endpointRules(ctx, { id, identity, namedPorts: workload.namedPorts });
        memo.set(key, rules);
      }
      const mine = withEndpointId(rules, id);
      explanations.set(`${node.name}|${id}`, { explain: mine.explain, selectedBy: mine.selectedBy });
      endpoints.push({
        id,
        identity,
        addresses: workload.ips,
        hostInterface: "",
        pod: workload.key,
        sources: [workload.source],
      });
      if (mine.policy.ingressEnforced || mine.policy.egressEnforced) policies.push(mine.policy);
      l7.push(...mine.l7);
    }
    nodePolicies.push({
      node: node.name,
      endpoints,
      policies,
      l7,
      ipcache: ipcache.forNode(node.name),
      identities,
    });
  }
  cache.endpointIds = endpointIds;

  return {
    identities,
    records: allocation.records,
    nodes: options.encryption === undefined ? nodePolicies : withEncryption(nodePolicies, options.encryption),
    statuses: parsed.statuses,
    invalid: parsed.invalid,
    warnings: parsed.warnings,
    rules: parsed.rules,
    endpoints: identified.map(({ workload, identity }) => ({
      pod: workload.key,
      node: workload.node,
      ips: workload.ips,
      identity,
    })),
    explanations,
  };
}
