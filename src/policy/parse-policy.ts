/**
 * A CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy object → its rules,
 * or every problem that makes it invalid. Cilium refuses an invalid policy
 * whole (its `Valid` condition turns False) and so does strait; a field of
 * the policy language that strait cannot enforce is a problem too, because
 * a policy silently half-applied is worse than one refused.
 */

import type { AuthType, Direction } from "../model/endpoint-policy.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import { err, ok, type Result } from "../model/result.ts";
import { type Ipv4Prefix, parseIpv4, parseIpv4Prefix, prefixContains } from "../net/ipv4.ts";
import { Checker, type Obj } from "./checker.ts";
import { SOURCE } from "./labels.ts";
import { portRule } from "./parse-ports.ts";
import { matchesInit, parseLabelSelector, scopePeer, scopeSubject } from "./parse-selector.ts";
import type {
  ParsedPolicy,
  PeerRule,
  PeerSet,
  PolicyProblem,
  PolicyRule,
  PortRuleSpec,
  ServicePeer,
} from "./rule.ts";
import { makeSelector, type Requirement, type Selector, WILDCARD_SELECTOR } from "./selector.ts";
import { CLUSTER_LABEL } from "./workload-labels.ts";

export type PolicyKind = "CiliumNetworkPolicy" | "CiliumClusterwideNetworkPolicy";

export interface ParseOptions {
  /** The cluster's name, for the `cluster` entity (`io.cilium.k8s.policy.cluster`). */
  readonly clusterName: string;
}

function reservedSelector(name: string): Selector {
  return makeSelector([{ source: SOURCE.reserved, key: name, operator: "Exists", values: [] }]);
}

const WORLD = reservedSelector("world");

/** Cilium's EntitySelectorMapping (pkg/policy/api/entity.go); `all` is the wildcard. */
function entitySelectors(entity: string, clusterName: string): readonly Selector[] | undefined {
  switch (entity) {
    case "all":
      return [WILDCARD_SELECTOR];
    case "world":
    case "world-ipv4":
      return [WORLD];
    case "world-ipv6":
      return []; // strait's datapath is IPv4-only: nothing has this identity
    case "cluster":
      return [
        ...["host", "remote-node", "init", "ingress", "health", "unmanaged", "kube-apiserver"].map(
          reservedSelector,
        ),
        makeSelector([{ source: SOURCE.k8s, key: CLUSTER_LABEL, operator: "In", values: [clusterName] }]),
      ];
    case "host":
    case "remote-node":
    case "init":
    case "ingress":
    case "health":
    case "unmanaged":
    case "kube-apiserver":
    case "none":
      return [reservedSelector(entity)];
    default:
      return undefined;
  }
}

/** A CIDR as Cilium reads it: `a.b.c.d/n` (host bits ignored) or a bare address. IPv6 yields undefined. */
function cidrOf(c: Checker, v: unknown, path: string, warnings: string[]): Ipv4Prefix | undefined | null {
  const s = c.string(v, path);
  if (s === undefined) return null;
  if (s.includes(":")) {
    warnings.push(`${path}: ${s} is IPv6; strait's datapath is IPv4-only, so it selects nothing`);
    return undefined;
  }
  const [address = "", length] = s.split("/");
  const a = parseIpv4(address);
  const len = length === undefined ? 32 : Number(length);
  if (!a.ok || !(length === undefined || /^(\d|[12]\d|3[0-2])$/.test(length))) {
    c.fail(path, `unable to parse CIDR "${s}"`);
    return null;
  }
  const value = ((a.value[0] << 24) | (a.value[1] << 16) | (a.value[2] << 8) | a.value[3]) >>> 0;
  const mask = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
  const net = (value & mask) >>> 0;
  const text = `${net >>> 24}.${(net >>> 16) & 255}.${(net >>> 8) & 255}.${net & 255}/${len}`;
  const parsed = parseIpv4Prefix(text);
  return parsed.ok ? parsed.value : null;
}

function prefixText(p: Ipv4Prefix): string {
  return `${p.octets.join(".")}/${p.length}`;
}

/** A CIDR (with its exceptions) as a selector of CIDR identities; 0.0.0.0/0 is the world (as Cilium maps it). */
function cidrSelector(prefix: Ipv4Prefix, except: readonly Ipv4Prefix[]): Selector {
  const holes: Requirement[] = except.map((e) => ({
    source: SOURCE.cidr,
    key: prefixText(e),
    operator: "DoesNotExist",
    values: [],
    prefix: e,
  }));
  if (prefix.length === 0) return makeSelector([...WORLD.requirements, ...holes]);
  return makeSelector([
    { source: SOURCE.cidr, key: prefixText(prefix), operator: "Exists", values: [], prefix },
    ...holes,
  ]);
}

const AUTH_MODES: Readonly<Record<string, Exclude<AuthType, "none"> | null>> = {
  disabled: null,
  required: "mtls-spiffe",
  "test-always-fail": "always-fail",
};

interface RuleContext {
  readonly c: Checker;
  readonly namespace: string;
  readonly matchesInit: boolean;
  readonly clusterName: string;
  readonly warnings: string[];
}

const L3_FIELDS: Readonly<Record<Direction, readonly string[]>> = {
  ingress: ["fromEndpoints", "fromCIDR", "fromCIDRSet", "fromEntities"],
  egress: ["toEndpoints", "toCIDR", "toCIDRSet", "toEntities", "toServices"],
};

function present(v: unknown): boolean {
  return v !== undefined && v !== null;
}

function nonEmpty(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0;
}

function servicePeers(ctx: RuleContext, v: unknown, path: string): ServicePeer[] {
  const { c } = ctx;
  const out: ServicePeer[] = [];
  (c.list(v, path) ?? []).forEach((s, i) => {
    const f = `${path}[${i}]`;
    const o = c.object(s, f);
    if (o === undefined) return;
    const byName =
      o.k8sService === undefined || o.k8sService === null
        ? undefined
        : c.object(o.k8sService, `${f}.k8sService`);
    const bySelector =
      o.k8sServiceSelector === undefined || o.k8sServiceSelector === null
        ? undefined
        : c.object(o.k8sServiceSelector, `${f}.k8sServiceSelector`);
    const spec = byName ?? bySelector;
    if (spec === undefined) {
      c.fail(f, "needs k8sService or k8sServiceSelector");
      return;
    }
    const ns = c.optionalString(spec.namespace, `${f}.namespace`);
    // A namespaced policy reaches Services of its own namespace unless it names one; a clusterwide one, any.
    const namespace = ns !== undefined && ns !== "" ? ns : ctx.namespace === "" ? undefined : ctx.namespace;
    if (byName !== undefined) {
      const name = c.string(byName.serviceName, `${f}.k8sService.serviceName`);
      if (name !== undefined) out.push({ namespace, name });
    } else if (bySelector !== undefined) {
      const selector = parseLabelSelector(c, bySelector.selector, `${f}.k8sServiceSelector.selector`);
      if (selector !== undefined) out.push({ namespace, selector });
    }
  });
  return out;
}

function noPeerField(o: Obj, direction: Direction): boolean {
  return L3_FIELDS[direction].every((f) => !present(o[f]));
}

function peersOf(ctx: RuleContext, o: Obj, path: string, direction: Direction): PeerSet {
  const { c } = ctx;
  const fields = L3_FIELDS[direction];
  const given = fields.filter((f) => present(o[f]));
  const filled = fields.filter((f) => nonEmpty(o[f]));
  if (filled.length > 1) {
    c.fail(path, `Combining ${filled[0]} and ${filled[1]} is not supported yet`);
  }
  if (given.length === 0) return { kind: "all" };
  const selectors: Selector[] = [];
  const endpoints = direction === "ingress" ? "fromEndpoints" : "toEndpoints";
  (c.list(o[endpoints], `${path}.${endpoints}`) ?? []).forEach((s, i) => {
    const sel = parseLabelSelector(c, s, `${path}.${endpoints}[${i}]`);
    if (sel !== undefined) selectors.push(scopePeer(sel, ctx.namespace, ctx.matchesInit));
  });
  const entities = direction === "ingress" ? "fromEntities" : "toEntities";
  (c.list(o[entities], `${path}.${entities}`) ?? []).forEach((e, i) => {
    const f = `${path}.${entities}[${i}]`;
    const name = c.string(e, f);
    if (name === undefined) return;
    const mapped = entitySelectors(name, ctx.clusterName);
    if (mapped === undefined) c.fail(f, `unsupported entity: ${name}`);
    else selectors.push(...mapped);
  });
  const cidrs = direction === "ingress" ? "fromCIDR" : "toCIDR";
  (c.list(o[cidrs], `${path}.${cidrs}`) ?? []).forEach((v, i) => {
    const prefix = cidrOf(c, v, `${path}.${cidrs}[${i}]`, ctx.warnings);
    if (prefix) selectors.push(cidrSelector(prefix, []));
  });
  const sets = direction === "ingress" ? "fromCIDRSet" : "toCIDRSet";
  (c.list(o[sets], `${path}.${sets}`) ?? []).forEach((v, i) => {
    const f = `${path}.${sets}[${i}]`;
    const rule = c.object(v, f);
    if (rule === undefined) return;
    c.unsupported(rule, f, ["cidrGroupRef", "cidrGroupSelector"], "CiliumCIDRGroup is not read");
    if (!present(rule.cidr)) {
      if (!present(rule.cidrGroupRef) && !present(rule.cidrGroupSelector))
        c.fail(`${f}.cidr`, "must be specified");
      return;
    }
    const prefix = cidrOf(c, rule.cidr, `${f}.cidr`, ctx.warnings);
    const except: Ipv4Prefix[] = [];
    (c.list(rule.except, `${f}.except`) ?? []).forEach((e, j) => {
      const hole = cidrOf(c, e, `${f}.except[${j}]`, ctx.warnings);
      if (!hole || !prefix) return;
      if (!prefixContains(prefix, hole)) {
        c.fail(
          `${f}.except[${j}]`,
          `allow CIDR prefix ${prefixText(prefix)} does not contain exclude CIDR prefix ${prefixText(hole)}`,
        );
      } else except.push(hole);
    });
    if (prefix) selectors.push(cidrSelector(prefix, except));
  });
  const services = direction === "egress" ? servicePeers(ctx, o.toServices, `${path}.toServices`) : [];
  if (selectors.some((s) => s.requirements.length === 0)) return { kind: "all" };
  return { kind: "some", selectors, services };
}

function peerRule(
  ctx: RuleContext,
  v: unknown,
  path: string,
  direction: Direction,
  deny: boolean,
): PeerRule | undefined {
  const { c } = ctx;
  const o = c.object(v, path);
  if (o === undefined) return undefined;
  const before = c.problems.length;
  const from = direction === "ingress" ? "from" : "to";
  c.unsupported(o, path, [`${from}Requires`], "deprecated in Cilium, and not implemented");
  c.unsupported(o, path, [`${from}Groups`], "cloud provider groups are not implemented");
  c.unsupported(
    o,
    path,
    [`${from}Nodes`],
    "node selectors need node identities, which strait does not allocate",
  );
  if (direction === "egress") c.unsupported(o, path, ["toFQDNs"], "FQDN rules need a DNS proxy");
  const peers = peersOf(ctx, o, path, direction);
  if (nonEmpty(o.icmps)) {
    if (nonEmpty(o.toPorts)) {
      c.fail(
        path,
        "The ICMPs block may only be present without ToPorts. Define a separate rule to use ToPorts.",
      );
    } else c.fail(`${path}.icmps`, "not supported by strait: the datapath does not match ICMP types");
  }
  let toPorts: PortRuleSpec[] | undefined;
  if (present(o.toPorts)) {
    if (direction === "egress" && nonEmpty(o.toServices) && nonEmpty(o.toPorts)) {
      c.fail(path, "Combining ToServices and ToPorts is not supported yet");
    }
    const list = c.list(o.toPorts, `${path}.toPorts`) ?? [];
    toPorts = list.flatMap(
      (p, i) => portRule(c, p, `${path}.toPorts[${i}]`, { deny, namespace: ctx.namespace }) ?? [],
    );
    // `toPorts: []` is no ports at all in Cilium (an L3-only rule), as if it were absent.
    if (list.length === 0) toPorts = undefined;
  }
  let auth: PeerRule["auth"];
  if (!deny && present(o.authentication)) {
    const a = c.object(o.authentication, `${path}.authentication`);
    const mode = a?.mode;
    if (typeof mode !== "string" || !(mode in AUTH_MODES)) {
      c.fail(`${path}.authentication.mode`, `must be one of ${Object.keys(AUTH_MODES).join(", ")}`);
    } else auth = AUTH_MODES[mode] ?? undefined;
  }
  if (c.problems.length > before) return undefined;
  return {
    direction,
    deny,
    path,
    // A rule with neither peers nor ports (`- {}`) selects nothing: it only enables default deny.
    peers:
      noPeerField(o, direction) && toPorts === undefined
        ? { kind: "some", selectors: [], services: [] }
        : peers,
    ...(toPorts === undefined ? {} : { toPorts }),
    ...(auth === undefined ? {} : { auth }),
  };
}

function rule(
  c: Checker,
  v: unknown,
  path: string,
  source: ResourceRef,
  namespace: string,
  options: ParseOptions,
  warnings: string[],
): PolicyRule | undefined {
  const o = c.object(v, path);
  if (o === undefined) return undefined;
  const hasEndpoints = present(o.endpointSelector);
  const hasNodes = present(o.nodeSelector);
  if (!hasEndpoints && !hasNodes)
    return c.fail(path, "rule must have one of EndpointSelector or NodeSelector");
  if (hasEndpoints && hasNodes)
    return c.fail(path, "rule cannot have both EndpointSelector and NodeSelector");
  if (hasNodes) {
    if (namespace !== "") return c.fail(`${path}.nodeSelector`, "a CiliumNetworkPolicy cannot select nodes");
    return c.fail(
      `${path}.nodeSelector`,
      "not supported by strait: host policies (nodeSelector) are not enforced yet",
    );
  }
  const raw = parseLabelSelector(c, o.endpointSelector, `${path}.endpointSelector`);
  const ctx: RuleContext = {
    c,
    namespace,
    matchesInit: raw === undefined ? false : matchesInit(raw),
    clusterName: options.clusterName,
    warnings,
  };
  const rules: PeerRule[] = [];
  const lists: readonly [string, Direction, boolean][] = [
    ["ingress", "ingress", false],
    ["ingressDeny", "ingress", true],
    ["egress", "egress", false],
    ["egressDeny", "egress", true],
  ];
  const counts: Record<string, number> = {};
  for (const [field, direction, deny] of lists) {
    const list = c.list(o[field], `${path}.${field}`) ?? [];
    counts[field] = list.length;
    list.forEach((r, i) => {
      const parsed = peerRule(ctx, r, `${path}.${field}[${i}]`, direction, deny);
      if (parsed !== undefined) rules.push(parsed);
    });
  }
  // Cilium's Sanitize: a direction with rules (allow or deny) defaults to default-deny.
  let defaultDeny = {
    ingress: (counts.ingress ?? 0) + (counts.ingressDeny ?? 0) > 0,
    egress: (counts.egress ?? 0) + (counts.egressDeny ?? 0) > 0,
  };
  if (present(o.enableDefaultDeny)) {
    const d = c.object(o.enableDefaultDeny, `${path}.enableDefaultDeny`);
    const ingress = c.boolean(d?.ingress, `${path}.enableDefaultDeny.ingress`);
    const egress = c.boolean(d?.egress, `${path}.enableDefaultDeny.egress`);
    defaultDeny = { ingress: ingress ?? defaultDeny.ingress, egress: egress ?? defaultDeny.egress };
  }
  const description = typeof o.description === "string" && o.description !== "" ? o.description : undefined;
  if (raw === undefined) return undefined;
  const scoped = scopeSubject(raw, namespace);
  if (scoped.warning !== undefined) warnings.push(`${path}: ${scoped.warning}`);
  return {
    source,
    path,
    ...(description === undefined ? {} : { description }),
    subject: scoped.selector,
    defaultDeny,
    rules,
  };
}

export function parsePolicy(
  obj: { metadata: { name: string; namespace?: string }; spec?: unknown; specs?: unknown },
  kind: PolicyKind,
  options: ParseOptions,
): Result<ParsedPolicy, PolicyProblem[]> {
  const namespace = kind === "CiliumNetworkPolicy" ? (obj.metadata.namespace ?? "default") : "";
  const source: ResourceRef = { group: "cilium.io", kind, namespace, name: obj.metadata.name };
  const c = new Checker();
  const warnings: string[] = [];
  const rules: PolicyRule[] = [];
  const hasSpec = present(obj.spec);
  const specs = c.list(obj.specs, "specs");
  if (!hasSpec && (specs === undefined || specs.length === 0)) {
    c.fail("spec", `Invalid ${kind} spec(s): empty policy`);
  }
  if (hasSpec) {
    const r = rule(c, obj.spec, "spec", source, namespace, options, warnings);
    if (r !== undefined) rules.push(r);
  }
  (specs ?? []).forEach((s, i) => {
    const r = rule(c, s, `specs[${i}]`, source, namespace, options, warnings);
    if (r !== undefined) rules.push(r);
  });
  if (c.problems.length > 0) return err(c.problems);
  return ok({ source, rules, warnings });
}
