/**
 * One node's IP → identity cache: every pod of the cluster (/32, with the
 * node it lives on when that is another node), the nodes (this one is
 * `host`, the others `remote-node`), the API server's addresses that are no
 * node's (`kube-apiserver`), and the CIDR identities' prefixes. When two
 * sources name one prefix, the more specific kind of thing wins: pod, node,
 * API server, CIDR. Addresses nobody names are `world` in the datapath.
 */
import { type IpcacheEntry, RESERVED_IDENTITIES } from "../model/endpoint-policy.ts";
import { formatIpv4Prefix, parseIpv4PrefixCached as parseIpv4Prefix } from "../net/ipv4.ts";
import type { Identity } from "./identities.ts";
import type { NodeInfo, Workload } from "./workloads.ts";

export interface IpcacheInput {
  readonly workloads: readonly { readonly workload: Workload; readonly identity: number }[];
  readonly nodes: readonly NodeInfo[];
  readonly apiServer: readonly string[];
  readonly cidrs: readonly Identity[];
}

function comparePrefix(a: IpcacheEntry, b: IpcacheEntry): number {
  const pa = parseIpv4Prefix(a.prefix);
  const pb = parseIpv4Prefix(b.prefix);
  if (!pa.ok || !pb.ok) return a.prefix < b.prefix ? -1 : 1;
  for (let i = 0; i < 4; i++) {
    const d = (pa.value.octets[i] ?? 0) - (pb.value.octets[i] ?? 0);
    if (d !== 0) return d;
  }
  return pa.value.length - pb.value.length;
}

/** The pods of the cluster, indexed once; `forNode` makes each node's ipcache from them. */
export class ClusterIpcache {
  readonly #pods = new Map<string, { entry: IpcacheEntry; node: string | undefined }>();
  readonly #input: IpcacheInput;
  readonly #nodeIp = new Map<string, string>();

  constructor(input: IpcacheInput) {
    this.#input = input;
    for (const n of input.nodes) if (n.ips[0] !== undefined) this.#nodeIp.set(n.name, n.ips[0]);
    for (const { workload, identity } of input.workloads) {
      for (const ip of workload.ips) {
        const prefix = `${ip}/32`;
        if (this.#pods.has(prefix)) continue;
        this.#pods.set(prefix, { entry: { prefix, identity }, node: workload.node });
      }
    }
  }

  forNode(node: string): IpcacheEntry[] {
    const out = new Map<string, IpcacheEntry>();
    for (const [prefix, { entry, node: where }] of this.#pods) {
      const nodeIp = where === undefined || where === node ? undefined : this.#nodeIp.get(where);
      out.set(prefix, nodeIp === undefined ? entry : { ...entry, node: nodeIp });
    }
    const nodeIps = new Set<string>();
    for (const n of this.#input.nodes) {
      const identity = n.name === node ? RESERVED_IDENTITIES.host : RESERVED_IDENTITIES.remoteNode;
      for (const ip of n.ips) {
        nodeIps.add(ip);
        const prefix = `${ip}/32`;
        if (!out.has(prefix)) out.set(prefix, { prefix, identity });
      }
    }
    for (const ip of this.#input.apiServer) {
      const prefix = `${ip}/32`;
      if (nodeIps.has(ip) || out.has(prefix)) continue;
      out.set(prefix, { prefix, identity: RESERVED_IDENTITIES.kubeApiserver });
    }
    for (const c of this.#input.cidrs) {
      if (c.cidr === undefined) continue;
      const prefix = formatIpv4Prefix(c.cidr);
      if (!out.has(prefix)) out.set(prefix, { prefix, identity: c.id });
    }
    return [...out.values()].sort(comparePrefix);
  }
}
