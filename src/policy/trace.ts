/**
 * `strait policy trace`: the verdict for one flow, explained, as `cilium
 * policy trace` does: which rules select the source and the destination,
 * which entry decides at the source's egress and at the destination's
 * ingress (L3/L4, in the datapath), and, when the flow goes through the
 * node's Envoy, which HTTP rule lets the request through (L7).
 *
 * The L3/L4 part mirrors bpf/lib/policy.h exactly: a direction no policy
 * enforces allows; otherwise the keys are tried most specific first
 * (identity+port, identity+protocol, any+port, any+protocol, identity,
 * any), a deny at any of them wins, and the first allow decides the proxy
 * port and auth type. The L7 part mirrors the RBAC filter strait configures.
 * Redirects follow the datapath too: the source's egress entry, else the
 * destination's ingress entry when the destination is on the source's node.
 */
import type {
  EndpointPolicy,
  IpcacheEntry,
  L4Protocol,
  L7Policy,
  NodePolicy,
  PolicyEntry,
  SecurityIdentity,
} from "../model/endpoint-policy.ts";
import { RESERVED_IDENTITIES } from "../model/endpoint-policy.ts";
import { parseIpv4, parseIpv4Prefix, prefixContainsAddress } from "../net/ipv4.ts";
import { explainKey } from "./endpoint-rules.ts";
import { type HttpRequest, httpRuleMatches } from "./http-match.ts";
import type { EndpointSummary, PolicyOutput } from "./index.ts";

export type TracePeer =
  | { readonly kind: "pod"; readonly pod: string }
  | { readonly kind: "identity"; readonly id: SecurityIdentity }
  | { readonly kind: "ip"; readonly ip: string };

export interface TraceQuery {
  readonly src: TracePeer;
  readonly dst: TracePeer;
  readonly protocol: Exclude<L4Protocol, "ANY">;
  readonly port: number;
  readonly http?: HttpRequest;
}

export type TraceVerdict = "ALLOWED" | "DENIED";

export interface TraceResult {
  readonly verdict: TraceVerdict;
  /** Where it was decided: `egress`, `ingress` (L3/L4), `l7-egress`, `l7-ingress`, or undefined when allowed. */
  readonly deniedAt?: "egress" | "ingress" | "l7-egress" | "l7-ingress";
  /** The proxy port the flow is redirected to, if any. */
  readonly proxyPort?: number;
  readonly lines: readonly string[];
}

interface Side {
  readonly name: string;
  readonly identity: SecurityIdentity;
  readonly ip?: string;
  readonly endpoint?: { readonly summary: EndpointSummary; readonly node: NodePolicy; readonly id: number };
}

function lpm(ipcache: readonly IpcacheEntry[], ip: string): SecurityIdentity {
  const address = parseIpv4(ip);
  if (!address.ok) return RESERVED_IDENTITIES.world;
  let best: { length: number; identity: number } | undefined;
  for (const e of ipcache) {
    const p = parseIpv4Prefix(e.prefix);
    if (!p.ok || !prefixContainsAddress(p.value, address.value)) continue;
    if (best === undefined || p.value.length > best.length)
      best = { length: p.value.length, identity: e.identity };
  }
  return best?.identity ?? RESERVED_IDENTITIES.world;
}

function identityName(_output: PolicyOutput, id: SecurityIdentity | "any"): string {
  return id === "any" ? "any identity" : `ID:${id}`;
}

function identityLabels(output: PolicyOutput, id: SecurityIdentity): string {
  const info = output.identities.find((i) => i.id === id);
  return info === undefined ? "(unknown identity)" : info.labels.join(", ");
}

function resolve(output: PolicyOutput, peer: TracePeer, otherNode: NodePolicy | undefined): Side {
  const endpointOf = (summary: EndpointSummary): Side["endpoint"] => {
    const node = output.nodes.find((n) => n.node === summary.node);
    const ep = node?.endpoints.find((e) => e.pod === summary.pod);
    return node === undefined || ep === undefined ? undefined : { summary, node, id: ep.id };
  };
  if (peer.kind === "pod") {
    const summary = output.endpoints.find((e) => e.pod === peer.pod);
    if (summary === undefined) return { name: peer.pod, identity: RESERVED_IDENTITIES.world };
    const endpoint = endpointOf(summary);
    return {
      name: peer.pod,
      identity: summary.identity,
      ...(summary.ips[0] === undefined ? {} : { ip: summary.ips[0] }),
      ...(endpoint === undefined ? {} : { endpoint }),
    };
  }
  if (peer.kind === "identity") return { name: `ID:${peer.id}`, identity: peer.id };
  const summary = output.endpoints.find((e) => e.ips.includes(peer.ip));
  if (summary !== undefined) {
    const endpoint = endpointOf(summary);
    return {
      name: `${summary.pod} (${peer.ip})`,
      identity: summary.identity,
      ip: peer.ip,
      ...(endpoint === undefined ? {} : { endpoint }),
    };
  }
  const ipcache = otherNode?.ipcache ?? output.nodes[0]?.ipcache ?? [];
  return { name: peer.ip, identity: lpm(ipcache, peer.ip), ip: peer.ip };
}

function covers(e: PolicyEntry, port: number): boolean {
  if (e.port === "any") return true;
  return port >= e.port && port <= (e.endPort ?? e.port);
}

/** The datapath's lookup (bpf/lib/policy.h policy_check). */
export function datapathLookup(
  policy: EndpointPolicy | undefined,
  direction: "ingress" | "egress",
  remote: SecurityIdentity,
  protocol: Exclude<L4Protocol, "ANY">,
  port: number,
): { readonly enforced: boolean; readonly deny?: PolicyEntry; readonly allow?: PolicyEntry } {
  const enforced =
    policy !== undefined && (direction === "ingress" ? policy.ingressEnforced : policy.egressEnforced);
  if (!enforced) return { enforced: false };
  const portless = protocol === "ICMP";
  const entries = policy.entries.filter((e) => e.direction === direction);
  const tries: ((e: PolicyEntry) => boolean)[] = [
    (e) =>
      e.remoteIdentity === remote &&
      e.protocol === protocol &&
      !portless &&
      e.port !== "any" &&
      covers(e, port),
    (e) => e.remoteIdentity === remote && e.protocol === protocol && (portless || e.port === "any"),
    (e) =>
      e.remoteIdentity === "any" &&
      e.protocol === protocol &&
      !portless &&
      e.port !== "any" &&
      covers(e, port),
    (e) => e.remoteIdentity === "any" && e.protocol === protocol && (portless || e.port === "any"),
    (e) => e.remoteIdentity === remote && e.protocol === "ANY",
    (e) => e.remoteIdentity === "any" && e.protocol === "ANY",
  ];
  let allow: PolicyEntry | undefined;
  let deny: PolicyEntry | undefined;
  for (const t of tries) {
    const matching = entries.filter(t);
    deny ??= matching.find((e) => e.verdict === "deny");
    // Several entries may share one datapath key (ranges expanded): the map keeps the one with a proxy port or auth.
    const allows = matching.filter((e) => e.verdict === "allow");
    allow ??= allows.find((e) => e.proxyPort !== undefined || e.auth !== undefined) ?? allows[0];
  }
  return {
    enforced: true,
    ...(deny === undefined ? {} : { deny }),
    ...(allow === undefined ? {} : { allow }),
  };
}

function entryText(output: PolicyOutput, e: PolicyEntry): string {
  const port =
    e.port === "any" ? "any port" : e.endPort === undefined ? `${e.port}` : `${e.port}-${e.endPort}`;
  const proto = e.protocol === "ANY" ? "any protocol" : `${port}/${e.protocol}`;
  const extra = [
    e.proxyPort === undefined ? "" : `, redirected to proxy port ${e.proxyPort}`,
    e.auth === undefined || e.auth === "none" ? "" : `, auth ${e.auth}`,
  ].join("");
  return `${e.verdict} ${e.direction === "ingress" ? "from" : "to"} ${identityName(output, e.remoteIdentity)} on ${proto}${extra}`;
}

function l4Step(
  output: PolicyOutput,
  side: Side,
  direction: "ingress" | "egress",
  remote: SecurityIdentity,
  q: TraceQuery,
  lines: string[],
): { denied: boolean; entry?: PolicyEntry } {
  const ep = side.endpoint;
  const label = `${direction === "egress" ? "Egress of" : "Ingress of"} ${side.name}`;
  if (ep === undefined) {
    lines.push(`${label}: not an endpoint strait enforces policy for; nothing to check`);
    return { denied: false };
  }
  const policy = ep.node.policies.find((p) => p.endpointId === ep.id);
  const why = output.explanations.get(`${ep.node.node}|${ep.id}`);
  lines.push(`${label} (endpoint ${ep.id} on node ${ep.node.node}):`);
  for (const r of why?.selectedBy ?? []) lines.push(`  selected by ${r}`);
  const r = datapathLookup(policy, direction, remote, q.protocol, q.port);
  if (!r.enforced) {
    lines.push(`  ${direction} not enforced (no rule puts it in default-deny): allowed`);
    return { denied: false };
  }
  const because = (e: PolicyEntry) =>
    (why?.explain.get(explainKey(direction, e)) ?? []).map((x) => `\n      by ${x}`).join("");
  if (r.deny !== undefined) {
    lines.push(`  DENIED by entry: ${entryText(output, r.deny)}${because(r.deny)}`);
    lines.push("  (a deny wins over every allow)");
    return { denied: true, entry: r.deny };
  }
  if (r.allow === undefined) {
    lines.push(
      `  DENIED: no entry allows ${identityName(output, remote)} on ${q.port}/${q.protocol} (default deny)`,
    );
    return { denied: true };
  }
  lines.push(`  allowed by entry: ${entryText(output, r.allow)}${because(r.allow)}`);
  return { denied: false, entry: r.allow };
}

function l7Step(
  output: PolicyOutput,
  side: Side,
  policy: L7Policy | undefined,
  remote: SecurityIdentity,
  q: TraceQuery,
  lines: string[],
): boolean {
  const where = `${policy?.direction ?? "?"} L7 (node's Envoy, proxy port ${policy?.proxyPort ?? "?"}) for ${side.name}`;
  if (policy === undefined) {
    lines.push(`${where}: no HTTP rules; the proxy allows every request`);
    return true;
  }
  const rules = policy.rules.filter((r) => r.remote === "any" || r.remote.includes(remote));
  if (q.http === undefined) {
    lines.push(
      `${where}: ${rules.length} rule(s) apply to ${identityName(output, remote)}; give --http to check a request`,
    );
    return rules.length > 0;
  }
  const request = `${q.http.method} ${q.http.path}`;
  for (const r of rules) {
    const by = r.sources
      .map((s) => `${s.kind}/${s.namespace === "" ? "" : `${s.namespace}/`}${s.name}`)
      .join(", ");
    if (r.http === "all") {
      lines.push(
        `${where}: ${request} ALLOWED (allowed at L3/L4 without HTTP rules by ${by || "default-allow"})`,
      );
      return true;
    }
    const i = r.http.findIndex((h) => httpRuleMatches(h, q.http as HttpRequest));
    if (i >= 0) {
      const h = r.http[i];
      const what = [
        h?.method && `method ${h.method}`,
        h?.path && `path ${h.path}`,
        h?.host && `host ${h.host}`,
      ]
        .filter(Boolean)
        .join(", ");
      lines.push(`${where}: ${request} ALLOWED by ${by} (HTTP rule: ${what || "any request"})`);
      return true;
    }
  }
  lines.push(`${where}: ${request} DENIED: no HTTP rule matches; Envoy answers 403`);
  return false;
}

export function tracePolicy(output: PolicyOutput, q: TraceQuery): TraceResult {
  const lines: string[] = [];
  const srcFirst = resolve(output, q.src, undefined);
  const dst = resolve(output, q.dst, srcFirst.endpoint?.node);
  const src =
    q.src.kind === "ip" && srcFirst.endpoint === undefined
      ? resolve(output, q.src, dst.endpoint?.node)
      : srcFirst;
  // What each side's datapath sees the other as: its own node's ipcache (or the identity given).
  const dstSeenBySrc =
    src.endpoint !== undefined && dst.ip !== undefined && dst.endpoint === undefined
      ? lpm(src.endpoint.node.ipcache, dst.ip)
      : dst.identity;
  const srcSeenByDst =
    dst.endpoint !== undefined && src.ip !== undefined && src.endpoint === undefined
      ? lpm(dst.endpoint.node.ipcache, src.ip)
      : src.identity;
  lines.push(
    `Tracing From: ${src.name} (${identityName(output, src.identity)}) => To: ${dst.name} (${identityName(output, dst.identity)}) Ports: [${q.port}/${q.protocol}]${q.http === undefined ? "" : ` HTTP: ${q.http.method} ${q.http.path}`}`,
    `  ID:${src.identity}: ${identityLabels(output, src.identity)}`,
    `  ID:${dst.identity}: ${identityLabels(output, dst.identity)}`,
  );
  const egress = l4Step(output, src, "egress", dstSeenBySrc, q, lines);
  if (egress.denied) return finish("DENIED", "egress");
  const ingress = l4Step(output, dst, "ingress", srcSeenByDst, q, lines);
  const sameNode =
    src.endpoint !== undefined &&
    dst.endpoint !== undefined &&
    src.endpoint.node.node === dst.endpoint.node.node;
  const egressProxy = egress.entry?.proxyPort;
  const ingressProxy = ingress.entry?.proxyPort;
  if (egressProxy !== undefined && src.endpoint !== undefined) {
    const l7 = src.endpoint.node.l7.find(
      (p) => p.endpointId === src.endpoint?.id && p.direction === "egress" && p.port === q.port,
    );
    if (!l7Step(output, src, l7, dstSeenBySrc, q, lines)) return finish("DENIED", "l7-egress", egressProxy);
  }
  if (ingress.denied) return finish("DENIED", "ingress", egressProxy);
  if (ingressProxy !== undefined && dst.endpoint !== undefined) {
    if (egressProxy !== undefined) {
      lines.push(
        `ingress L7 for ${dst.name}: not applied: the flow already went through the egress proxy, whose upstream connection is not redirected again`,
      );
    } else if (!sameNode) {
      lines.push(
        `ingress L7 for ${dst.name}: not applied: strait redirects to the proxy at the client's node, and the client is not on ${dst.endpoint.node.node}`,
      );
    } else {
      const l7 = dst.endpoint.node.l7.find(
        (p) => p.endpointId === dst.endpoint?.id && p.direction === "ingress" && p.port === q.port,
      );
      if (!l7Step(output, dst, l7, srcSeenByDst, q, lines))
        return finish("DENIED", "l7-ingress", ingressProxy);
      return finish("ALLOWED", undefined, ingressProxy);
    }
  }
  if (q.http !== undefined && egressProxy === undefined && ingressProxy === undefined) {
    lines.push("L7: the flow does not go through the proxy; the HTTP request is not inspected");
  }
  return finish("ALLOWED", undefined, egressProxy);

  function finish(verdict: TraceVerdict, at?: TraceResult["deniedAt"], proxyPort?: number): TraceResult {
    lines.push(`Final verdict: ${verdict}`);
    return {
      verdict,
      ...(at === undefined ? {} : { deniedAt: at }),
      ...(proxyPort === undefined ? {} : { proxyPort }),
      lines,
    };
  }
}
