/**
 * One endpoint's policy from the rules that select it, Cilium's semantics
 * (pkg/policy: repository, l4, mapstate), in strait's model:
 *
 * - A direction is in default-deny when any selecting rule enables it
 *   (`enableDefaultDeny`, defaulting to "this rule has rules in that
 *   direction"); then only what an allow entry matches passes.
 * - A deny entry wins over every allow entry that also matches, at any
 *   specificity (the datapath tries all of them).
 * - An L3-only rule allows every port and protocol of its peers; a rule with
 *   ports but no peers allows every peer (the identity wildcard).
 * - A port with HTTP rules sends its allowed peers' flows to the proxy; the
 *   proxy lets through what one of the rules allows, and everything from
 *   peers that some other rule allows on that port at L3/L4 without HTTP
 *   rules (Cilium's L7 wildcarding of L3/L4 rules).
 * - A direction that no rule puts in default-deny allows everything, even
 *   when rules select the endpoint: an explicit allow-all entry plus the
 *   denies, redirects and auth the rules ask for, and the proxy allowing
 *   every request (Cilium's default-allow mode).
 */
import type {
  AuthType,
  Direction,
  EndpointPolicy,
  HttpRule,
  L4Protocol,
  L7Policy,
  L7Rule,
  PolicyEntry,
  SecurityIdentity,
} from "../model/endpoint-policy.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import type { IdentityIndex, RuleIndex } from "./identity-index.ts";
import type { HttpRuleSpec, PeerRule, PeerSet, PortSpec } from "./rule.ts";
import type { NamedPort } from "./workloads.ts";

export type Remote = SecurityIdentity | "any";

export interface PassContext {
  readonly index: IdentityIndex;
  readonly rules: RuleIndex;
  /** The identities a peer set stands for (memoized per pass). */
  peers(set: PeerSet): readonly SecurityIdentity[] | "any";
  /** Named ports of the pods of an identity (egress rules name the peer's ports). */
  namedPortsOf(identity: SecurityIdentity): ReadonlyMap<string, readonly NamedPort[]>;
  /** Named ports of every pod (a named port towards every peer). */
  readonly allNamedPorts: ReadonlyMap<string, readonly NamedPort[]>;
  /** An HTTP rule with its header Secrets read. */
  http(rule: HttpRuleSpec): HttpRule;
  readonly proxyPorts: { readonly ingress: number; readonly egress: number };
}

export interface EndpointInput {
  readonly id: number;
  readonly identity: SecurityIdentity;
  readonly namedPorts: ReadonlyMap<string, readonly NamedPort[]>;
}

interface Allow {
  readonly remote: Remote;
  readonly protocol: L4Protocol;
  readonly port: number | "any";
  readonly endPort?: number;
  proxy: boolean;
  auth: Exclude<AuthType, "none"> | undefined;
  readonly sources: Map<string, ResourceRef>;
  /** Sources that allow this key without HTTP rules. */
  readonly plain: Map<string, ResourceRef>;
  /** The rules that made it (`Kind/ns/name spec.ingress[0]`), for traces. */
  readonly rules: Set<string>;
}

interface Deny {
  readonly remote: Remote;
  readonly protocol: L4Protocol;
  readonly port: number | "any";
  readonly endPort?: number;
  readonly sources: Map<string, ResourceRef>;
  readonly rules: Set<string>;
}

interface Port {
  readonly protocol: L4Protocol;
  readonly port: number | "any";
  readonly endPort?: number;
}

function refKey(r: ResourceRef): string {
  return `${r.kind}/${r.namespace}/${r.name}`;
}

function entryKey(remote: Remote, p: Port): string {
  return `${remote}|${p.protocol}|${p.port}|${p.endPort ?? ""}`;
}

const ANY_PORT: Port = { protocol: "ANY", port: "any" };

/** The (protocol, port) pairs a PortSpec stands for; ANY is TCP and UDP, as Cilium expands it. */
function expand(spec: PortSpec, named: ReadonlyMap<string, readonly NamedPort[]>): Port[] {
  const protocols: L4Protocol[] = spec.protocol === "ANY" ? ["TCP", "UDP"] : [spec.protocol];
  if (typeof spec.port === "string") {
    const resolved = named.get(spec.port) ?? [];
    return protocols.flatMap((protocol) =>
      resolved.filter((n) => n.protocol === protocol).map((n) => ({ protocol, port: n.port })),
    );
  }
  const port = spec.port;
  return protocols.map(
    (protocol): Port =>
      port === 0
        ? { protocol, port: "any" }
        : { protocol, port, ...(spec.endPort === undefined ? {} : { endPort: spec.endPort }) },
  );
}

function covers(p: Port, protocol: L4Protocol, port: number): boolean {
  if (p.protocol === "ANY") return true;
  if (p.protocol !== protocol) return false;
  if (p.port === "any") return true;
  return port >= p.port && port <= (p.endPort ?? p.port);
}

function uniq(ids: Iterable<SecurityIdentity>): SecurityIdentity[] {
  return [...new Set(ids)].sort((a, b) => a - b);
}

class DirectionBuilder {
  readonly allows = new Map<string, Allow>();
  readonly denies = new Map<string, Deny>();
  /** TCP port → the L7 rules for it. */
  readonly l7 = new Map<number, L7Rule[]>();
  defaultDeny = false;

  allow(
    remote: Remote,
    p: Port,
    source: ResourceRef,
    proxy: boolean,
    auth: Allow["auth"],
    rule: string,
  ): void {
    const key = entryKey(remote, p);
    let a = this.allows.get(key);
    if (a === undefined) {
      a = { remote, ...p, proxy, auth, sources: new Map(), plain: new Map(), rules: new Set() };
      this.allows.set(key, a);
    }
    a.rules.add(rule);
    a.proxy ||= proxy;
    a.auth ??= auth;
    a.sources.set(refKey(source), source);
    if (!proxy) a.plain.set(refKey(source), source);
  }

  deny(remote: Remote, p: Port, source: ResourceRef, rule: string): void {
    const key = entryKey(remote, p);
    let d = this.denies.get(key);
    if (d === undefined) {
      d = { remote, ...p, sources: new Map(), rules: new Set() };
      this.denies.set(key, d);
    }
    d.rules.add(rule);
    d.sources.set(refKey(source), source);
  }

  addL7(port: number, rule: L7Rule): void {
    const list = this.l7.get(port);
    if (list === undefined) this.l7.set(port, [rule]);
    else list.push(rule);
  }
}

function remotesOf(peers: readonly SecurityIdentity[] | "any"): readonly Remote[] {
  return peers === "any" ? ["any"] : peers;
}

/** Ports of a rule's port entry, per remote: named ports of an egress rule are the peer's. */
function portsFor(
  ctx: PassContext,
  ep: EndpointInput,
  direction: Direction,
  spec: PortSpec,
  remote: Remote,
): Port[] {
  if (typeof spec.port !== "string") return expand(spec, ep.namedPorts);
  if (direction === "ingress") return expand(spec, ep.namedPorts);
  return expand(spec, remote === "any" ? ctx.allNamedPorts : ctx.namedPortsOf(remote));
}

/** `CiliumNetworkPolicy/ns/name spec.ingress[0]`: how traces name a rule. */
export function ruleName(source: ResourceRef, path: string): string {
  const ref =
    source.namespace === ""
      ? `${source.kind}/${source.name}`
      : `${source.kind}/${source.namespace}/${source.name}`;
  return `${ref} ${path}`;
}

function applyRule(
  ctx: PassContext,
  ep: EndpointInput,
  b: DirectionBuilder,
  rule: PeerRule,
  source: ResourceRef,
) {
  const peers = ctx.peers(rule.peers);
  const remotes = remotesOf(peers);
  const name = ruleName(source, rule.path);
  if (rule.toPorts === undefined) {
    for (const remote of remotes) {
      if (rule.deny) b.deny(remote, ANY_PORT, source, name);
      else b.allow(remote, ANY_PORT, source, false, rule.auth, name);
    }
    return;
  }
  for (const pr of rule.toPorts) {
    const http = pr.http;
    for (const spec of pr.ports) {
      const perPort = new Map<number, Set<SecurityIdentity> | "any">();
      for (const remote of remotes) {
        for (const p of portsFor(ctx, ep, rule.direction, spec, remote)) {
          if (rule.deny) {
            b.deny(remote, p, source, name);
            continue;
          }
          b.allow(remote, p, source, http !== undefined, rule.auth, name);
          if (http !== undefined && typeof p.port === "number") {
            if (remote === "any") perPort.set(p.port, "any");
            else {
              const seen = perPort.get(p.port) ?? new Set<SecurityIdentity>();
              if (seen !== "any") {
                seen.add(remote);
                perPort.set(p.port, seen);
              }
            }
          }
        }
      }
      if (http === undefined) continue;
      for (const [port, who] of perPort) {
        b.addL7(port, {
          remote: who === "any" ? "any" : uniq(who),
          http: http.map((h) => ctx.http(h)),
          sources: [source],
        });
      }
    }
  }
}

/**
 * Peers allowed at L3/L4 without HTTP rules on a proxied port are let through
 * whole by the proxy, in case their flows are redirected too (a more specific
 * proxied entry of theirs, or a proxied wildcard entry, decides that).
 */
function wildcardL7(b: DirectionBuilder): void {
  for (const [port, rules] of b.l7) {
    const bySource = new Map<string, { source: ResourceRef; remotes: Set<Remote> }>();
    for (const a of b.allows.values()) {
      if (a.plain.size === 0 || !covers(a, "TCP", port)) continue;
      for (const source of a.plain.values()) {
        const k = refKey(source);
        const g = bySource.get(k) ?? { source, remotes: new Set<Remote>() };
        g.remotes.add(a.remote);
        bySource.set(k, g);
      }
    }
    for (const { source, remotes } of bySource.values()) {
      const remote = remotes.has("any")
        ? ("any" as const)
        : uniq([...remotes].filter((r): r is SecurityIdentity => r !== "any"));
      rules.push({ remote, http: "all", sources: [source] });
    }
  }
}

function sortedSources(m: ReadonlyMap<string, ResourceRef>): ResourceRef[] {
  return [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, r]) => r);
}

/** Entries in a stable order: direction, deny first, remote ("any" first), protocol, port. */
function compareEntries(a: PolicyEntry, b: PolicyEntry): number {
  if (a.direction !== b.direction) return a.direction < b.direction ? -1 : 1;
  if (a.verdict !== b.verdict) return a.verdict === "deny" ? -1 : 1;
  const ra = a.remoteIdentity === "any" ? -1 : a.remoteIdentity;
  const rb = b.remoteIdentity === "any" ? -1 : b.remoteIdentity;
  if (ra !== rb) return ra - rb;
  if (a.protocol !== b.protocol) return a.protocol < b.protocol ? -1 : 1;
  const pa = a.port === "any" ? 0 : a.port;
  const pb = b.port === "any" ? 0 : b.port;
  return pa - pb || (a.endPort ?? 0) - (b.endPort ?? 0);
}

export interface EndpointRules {
  readonly policy: EndpointPolicy;
  readonly l7: readonly L7Policy[];
  /** For traces: the rules behind each entry, by `direction|remote|protocol|port|endPort`. */
  readonly explain: ReadonlyMap<string, readonly string[]>;
  /** For traces: the rules that select the endpoint. */
  readonly selectedBy: readonly string[];
}

export function explainKey(
  direction: Direction,
  e: Pick<PolicyEntry, "remoteIdentity" | "protocol" | "port" | "endPort">,
): string {
  return `${direction}|${entryKey(e.remoteIdentity, e)}`;
}

export function endpointRules(ctx: PassContext, ep: EndpointInput): EndpointRules {
  const entries: PolicyEntry[] = [];
  const l7: L7Policy[] = [];
  const enforced = { ingress: false, egress: false };
  const all = new Map<string, ResourceRef>();
  const explain = new Map<string, string[]>();
  const selectedBy: string[] = [];
  const builders: Record<Direction, DirectionBuilder> = {
    ingress: new DirectionBuilder(),
    egress: new DirectionBuilder(),
  };
  for (const rule of ctx.rules.selecting(ep.identity)) {
    selectedBy.push(ruleName(rule.source, rule.path));
    for (const direction of ["ingress", "egress"] as const) {
      const b = builders[direction];
      if (rule.defaultDeny[direction]) b.defaultDeny = true;
    }
    for (const peer of rule.rules) {
      const b = builders[peer.direction];
      all.set(refKey(rule.source), rule.source);
      applyRule(ctx, ep, b, peer, rule.source);
    }
    if (rule.defaultDeny.ingress || rule.defaultDeny.egress) all.set(refKey(rule.source), rule.source);
  }

  for (const direction of ["ingress", "egress"] as const) {
    const b = builders[direction];
    const proxyPort = ctx.proxyPorts[direction];
    const special =
      b.denies.size > 0 || b.l7.size > 0 || [...b.allows.values()].some((a) => a.auth !== undefined);
    if (!b.defaultDeny) {
      if (!special) continue;
      // Default-allow: everything passes but what is denied; proxied ports allow every request.
      const sources = new Map<string, ResourceRef>();
      for (const a of b.allows.values()) for (const [k, s] of a.sources) sources.set(k, s);
      for (const d of b.denies.values()) for (const [k, s] of d.sources) sources.set(k, s);
      const allowAll = {
        remote: "any" as const,
        ...ANY_PORT,
        proxy: false,
        auth: undefined,
        sources,
        plain: sources,
        rules: new Set([
          "default-allow (no rule selecting the endpoint enables default deny in this direction)",
        ]),
      };
      b.allows.set(entryKey("any", ANY_PORT), b.allows.get(entryKey("any", ANY_PORT)) ?? allowAll);
    }
    enforced[direction] = true;
    wildcardL7(b);
    for (const d of b.denies.values()) {
      explain.set(`${direction}|${entryKey(d.remote, d)}`, [...d.rules].sort());
      entries.push({
        direction,
        remoteIdentity: d.remote,
        protocol: d.protocol,
        port: d.port,
        ...(d.endPort === undefined ? {} : { endPort: d.endPort }),
        verdict: "deny",
        sources: sortedSources(d.sources),
      });
    }
    for (const [key, a] of b.allows) {
      if (b.denies.has(key)) continue; // the deny decides this key
      explain.set(`${direction}|${key}`, [...a.rules].sort());
      const proxied = a.proxy && a.protocol === "TCP" && typeof a.port === "number" && b.l7.has(a.port);
      entries.push({
        direction,
        remoteIdentity: a.remote,
        protocol: a.protocol,
        port: a.port,
        ...(a.endPort === undefined ? {} : { endPort: a.endPort }),
        verdict: "allow",
        ...(proxied ? { proxyPort } : {}),
        ...(a.auth === undefined ? {} : { auth: a.auth }),
        sources: sortedSources(a.sources),
      });
    }
    for (const [port, rules] of [...b.l7.entries()].sort(([x], [y]) => x - y)) {
      const sources = new Map<string, ResourceRef>();
      for (const r of rules) for (const s of r.sources) sources.set(refKey(s), s);
      l7.push({ endpointId: ep.id, direction, port, proxyPort, rules, sources: sortedSources(sources) });
    }
  }
  entries.sort(compareEntries);
  return {
    policy: {
      endpointId: ep.id,
      ingressEnforced: enforced.ingress,
      egressEnforced: enforced.egress,
      entries,
      sources: sortedSources(all),
    },
    l7,
    explain,
    selectedBy,
  };
}
