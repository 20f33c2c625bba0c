/**
 * `--auth-encryption envoy` over the nodes' policies (the design is in
 * model/encryption.ts): every allow entry that requires mtls-spiffe for a
 * TCP (or any-protocol) flow without L7 rules becomes mtls-spiffe-encrypted,
 * and each node learns what its Envoy sends encrypted (the source side of
 * every such pair) and what it accepts (the destination side). A pair comes
 * from the destination's ingress entries and from the source's egress
 * entries alike, so either node's policy is enough.
 *
 * What is not encrypted keeps mtls-spiffe (authenticated, in the clear):
 * UDP, SCTP and ICMP entries (the tunnel carries streams), ports with L7
 * rules (their listener is the node's L7 one; planned), and entries whose
 * source has L7 egress rules on the port (its flow must go through its own
 * node's L7 listener, which the tunnel would bypass). A port range is sent
 * encrypted on every port: encrypting more than needed is safe, as the
 * destination's datapath still applies the pod's policy.
 */

import { type DecryptEntry, ENCRYPT_PROXY_PORT, type EncryptEntry } from "../model/encryption.ts";
import type { EndpointPolicy, NodePolicy, PolicyEntry, SecurityIdentity } from "../model/endpoint-policy.ts";
import { FIRST_WORKLOAD_IDENTITY } from "../model/endpoint-policy.ts";
import { LAST_WORKLOAD_IDENTITY } from "./identities.ts";

export interface EncryptionOptions {
  readonly tunnelPort: number;
  readonly trustDomain: string;
}

type Port = number | "any";

function encrypted(e: PolicyEntry): boolean {
  return (
    e.verdict === "allow" &&
    e.auth === "mtls-spiffe" &&
    e.proxyPort === undefined &&
    (e.protocol === "TCP" || e.protocol === "ANY")
  );
}

function portOf(e: PolicyEntry): Port {
  if (e.protocol === "ANY" || e.port === "any") return "any";
  return e.endPort !== undefined && e.endPort !== e.port ? "any" : e.port;
}

/** Pairs keyed `source|destination|port`, each once. */
class PairSet {
  readonly #pairs = new Map<
    string,
    { source: SecurityIdentity; destination: SecurityIdentity; port: Port }
  >();

  add(source: SecurityIdentity, destination: SecurityIdentity, port: Port): void {
    this.#pairs.set(`${source}|${destination}|${port}`, { source, destination, port });
  }

  values() {
    return [...this.#pairs.values()].sort(
      (a, b) =>
        a.source - b.source ||
        a.destination - b.destination ||
        (a.port === "any" ? 0 : a.port) - (b.port === "any" ? 0 : b.port),
    );
  }
}

function rewrite(policy: EndpointPolicy, keep: ReadonlySet<PolicyEntry>): EndpointPolicy {
  if (!policy.entries.some((e) => encrypted(e) && !keep.has(e))) return policy;
  return {
    ...policy,
    entries: policy.entries.map((e) =>
      encrypted(e) && !keep.has(e) ? { ...e, auth: "mtls-spiffe-encrypted" } : e,
    ),
  };
}

/** The nodes' policies with encryption: entries rewritten, and each node's `encryption`. */
export function withEncryption(nodes: readonly NodePolicy[], options: EncryptionOptions): NodePolicy[] {
  const nodesOf = new Map<SecurityIdentity, Set<string>>();
  // Egress L7 ports of each identity (`identity|port`; `identity|*` for any): a source whose flow
  // goes to its node's L7 egress listener must keep it there, so such pairs are not encrypted.
  const egressL7 = new Set<string>();
  for (const node of nodes) {
    const identityOf = new Map(node.endpoints.map((e) => [e.id, e.identity]));
    for (const ep of node.endpoints) {
      const set = nodesOf.get(ep.identity) ?? new Set<string>();
      set.add(node.node);
      nodesOf.set(ep.identity, set);
    }
    for (const l7 of node.l7) {
      const id = identityOf.get(l7.endpointId);
      if (l7.direction !== "egress" || id === undefined) continue;
      egressL7.add(`${id}|${l7.port}`);
      egressL7.add(`${id}|*`);
    }
  }
  const l7Source = (source: SecurityIdentity, port: Port) =>
    egressL7.has(port === "any" ? `${source}|*` : `${source}|${port}`);
  const workloads = [...nodesOf.keys()].filter(
    (id) => id >= FIRST_WORKLOAD_IDENTITY && id <= LAST_WORKLOAD_IDENTITY,
  );
  const pairs = new PairSet();
  /** Entries left authenticated only (mtls-spiffe), for a source's egress L7 rules. */
  const keep = new Set<PolicyEntry>();
  for (const node of nodes) {
    const identityOf = new Map(node.endpoints.map((e) => [e.id, e.identity]));
    for (const policy of node.policies) {
      const local = identityOf.get(policy.endpointId);
      if (local === undefined) continue;
      for (const e of policy.entries) {
        if (!encrypted(e)) continue;
        const port = portOf(e);
        // Workload identities only: no node Envoy is on the other side of a reserved or CIDR
        // identity, and the tunnel's mark carries 16 bits of identity.
        const remotes = (e.remoteIdentity === "any" ? workloads : [e.remoteIdentity]).filter(
          (r) => r >= FIRST_WORKLOAD_IDENTITY && r <= LAST_WORKLOAD_IDENTITY,
        );
        const sources = e.direction === "ingress" ? remotes : [local];
        if (sources.some((source) => l7Source(source, port))) {
          keep.add(e);
          continue;
        }
        for (const remote of remotes) {
          if (e.direction === "ingress") pairs.add(remote, local, port);
          else pairs.add(local, remote, port);
        }
      }
    }
  }
  const outbound = new Map<string, EncryptEntry[]>();
  const inbound = new Map<string, DecryptEntry[]>();
  for (const { source, destination, port } of pairs.values()) {
    const sourceNodes = nodesOf.get(source) ?? new Set();
    const destinationNodes = nodesOf.get(destination) ?? new Set();
    // Only pairs that cross nodes need the tunnel: a source node with a destination elsewhere.
    for (const n of sourceNodes) {
      if ([...destinationNodes].some((d) => d !== n)) {
        const list = outbound.get(n) ?? [];
        list.push({
          localIdentity: source,
          remoteIdentity: destination,
          protocol: "TCP",
          port,
          proxyPort: ENCRYPT_PROXY_PORT,
        });
        outbound.set(n, list);
      }
    }
    for (const n of destinationNodes) {
      if ([...sourceNodes].some((s) => s !== n)) {
        const list = inbound.get(n) ?? [];
        list.push({ localIdentity: destination, remoteIdentity: source, port });
        inbound.set(n, list);
      }
    }
  }
  return nodes.map((node) => ({
    ...node,
    policies: node.policies.map((p) => rewrite(p, keep)),
    encryption: {
      outbound: outbound.get(node.node) ?? [],
      inbound: inbound.get(node.node) ?? [],
      tunnelPort: options.tunnelPort,
      trustDomain: options.trustDomain,
    },
  }));
}
