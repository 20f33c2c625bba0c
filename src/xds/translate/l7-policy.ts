/**
 * A node's L7 policies → the node's Envoy configuration: one transparent
 * listener per proxy port on 127.0.0.1 (the agent's TPROXY rules steer the
 * datapath's marked flows there, and the accepted socket's local address is
 * the original destination), with one filter chain per endpoint and port:
 *
 * - ingress: matched on the destination endpoint's address and port; the
 *   RBAC filter's principals are the allowed peers' addresses (the node's
 *   ipcache, longest prefix as the datapath resolves it);
 * - egress: matched on the source endpoint's address and the destination
 *   port; the permissions name the allowed destinations' addresses.
 *
 * Each chain's HTTP connection manager runs RBAC (a request that no rule
 * allows gets Envoy's 403) and forwards to the original destination
 * (ORIGINAL_DST cluster). The upstream connection keeps the client's
 * address (original_src) and carries the from-proxy mark, so the
 * destination's datapath sees the client's identity and the proxy's own
 * traffic is never redirected again. Every request is access-logged as JSON
 * for `strait observe`.
 */

import type { HttpRule, IpcacheEntry, L7Policy, L7Rule, NodePolicy } from "../../model/endpoint-policy.ts";
import { MARK } from "../../model/proxy-marks.ts";
import { parseIpv4PrefixCached as parseIpv4Prefix, prefixContains } from "../../net/ipv4.ts";
import type {
  envoy_config_accesslog_v3_AccessLog as AccessLog,
  envoy_config_core_v3_CidrRange as CidrRange,
  envoy_config_cluster_v3_Cluster as Cluster,
  envoy_config_listener_v3_FilterChain as FilterChain,
  envoy_config_listener_v3_Listener as Listener,
  envoy_config_rbac_v3_Permission as Permission,
  envoy_config_rbac_v3_Policy as Policy,
  envoy_config_rbac_v3_Principal as Principal,
} from "../proto/envoy-types.ts";
import { packAny } from "../proto/pack-any.ts";

export const L7_CLUSTER = "strait/l7/original-dst";
/** Linux SOL_SOCKET / SO_MARK, for a listener's socket option. */
export const SOL_SOCKET = 1;
export const SO_MARK = 36;

/**
 * What every listener the agent's TPROXY rules steer flows to (the L7
 * policy's, the mesh's) has besides its address and chains: `transparent`;
 * the original destination (the socket's own local address under TPROXY:
 * SO_ORIGINAL_DST finds no conntrack entry, the node's rules leave both
 * directions of a redirected flow untracked, and Envoy keeps the accepted
 * socket's address); the client's address kept on the upstream connection
 * with the from-proxy mark (identity 0: the destination takes the client's
 * from the ipcache); and the proxy-reply mark on the listening socket, which
 * every accepted socket inherits, so the node's raw OUTPUT rule leaves the
 * proxy's side untracked too. Were it tracked, conntrack would record the
 * proxy's first reply as a new flow from the original destination to the
 * client, and SO_ORIGINAL_DST on a later connection accepted after such a
 * reply would answer the client's own address.
 */
export function transparentListenerOptions(): Pick<
  Listener,
  "transparent" | "listener_filters" | "socket_options"
> {
  return {
    transparent: true,
    socket_options: [
      {
        description: "strait proxy reply mark (raw OUTPUT notrack)",
        level: SOL_SOCKET,
        name: SO_MARK,
        int_value: MARK.PROXY_REPLY,
        state: "STATE_PREBIND",
      },
    ],
    listener_filters: [
      {
        name: "envoy.filters.listener.original_dst",
        typed_config: packAny("envoy.extensions.filters.listener.original_dst.v3.OriginalDst", {}),
      },
      {
        name: "envoy.filters.listener.original_src",
        typed_config: packAny("envoy.extensions.filters.listener.original_src.v3.OriginalSrc", {
          mark: MARK.FROM_PROXY,
        }),
      },
    ],
  };
}

export function l7ListenerName(direction: "ingress" | "egress", port: number): string {
  return `strait/l7/${direction}/${port}`;
}

export interface L7Options {
  /** JSON lines of every proxied request, read by the agent for `strait observe`. */
  readonly accessLog: string;
}

type IpField = "direct_remote_ip" | "destination_ip";
/** What AddressIndex builds: an RBAC principal (direct_remote_ip) or permission (destination_ip). */
type Matcher = Principal | Permission;

/** An Envoy CidrRange of an `a.b.c.d/len` prefix (a bare address is a /32). */
export function cidr(prefix: string): CidrRange {
  const [address = "", len = "32"] = prefix.split("/");
  return { address_prefix: address, prefix_len: Number(len) };
}

function any(): Principal {
  return { any: true };
}

function none(): Principal {
  return { not_id: { any: true } };
}

/**
 * The addresses that the datapath resolves to one of a set of identities, as
 * an RBAC principal (`direct_remote_ip`) or permission (`destination_ip`):
 * each of their ipcache prefixes minus the more specific prefixes of other
 * identities inside it; world is every address no prefix covers. The
 * prefixes are parsed and each one's holes found once per node.
 */
export class AddressIndex {
  readonly #byIdentity = new Map<number, { prefix: string; holes: string[] }[]>();
  readonly #all: string[] = [];
  readonly #memo = new Map<string, Matcher>();

  constructor(ipcache: readonly IpcacheEntry[]) {
    const parsed = ipcache.flatMap((e) => {
      const p = parseIpv4Prefix(e.prefix);
      return p.ok ? [{ entry: e, prefix: p.value }] : [];
    });
    // Only prefixes shorter than /32 can have holes; they are few (nodes' CIDRs, CIDR identities).
    for (const { entry, prefix } of parsed) {
      const holes =
        prefix.length === 32
          ? []
          : parsed
              .filter(
                (o) =>
                  o.entry.identity !== entry.identity &&
                  o.prefix.length > prefix.length &&
                  prefixContains(prefix, o.prefix),
              )
              .map((o) => o.entry.prefix);
      const list = this.#byIdentity.get(entry.identity) ?? [];
      list.push({ prefix: entry.prefix, holes });
      this.#byIdentity.set(entry.identity, list);
      this.#all.push(entry.prefix);
    }
  }

  matcher(identities: readonly number[], field: "direct_remote_ip"): Principal;
  matcher(identities: readonly number[], field: "destination_ip"): Permission;
  matcher(identities: readonly number[], field: IpField): Matcher;
  matcher(identities: readonly number[], field: IpField): Matcher {
    const key = `${field}|${identities.join(",")}`;
    let m = this.#memo.get(key);
    if (m === undefined) {
      m = this.#build(identities, field);
      this.#memo.set(key, m);
    }
    return m;
  }

  #build(identities: readonly number[], field: IpField): Matcher {
    // Principals and permissions have the same shape under different field names; the casts
    // below only say which of the two a list holds (all of one kind, by `field`).
    const isPrincipal = field === "direct_remote_ip";
    const or = (items: Matcher[]): Matcher => {
      if (items.length === 0) return isPrincipal ? none() : { not_rule: { any: true } };
      if (items.length === 1) return items[0] as Matcher;
      return isPrincipal
        ? { or_ids: { ids: items as Principal[] } }
        : { or_rules: { rules: items as Permission[] } };
    };
    const and = (items: Matcher[]): Matcher =>
      isPrincipal
        ? { and_ids: { ids: items as Principal[] } }
        : { and_rules: { rules: items as Permission[] } };
    const not = (item: Matcher): Matcher =>
      isPrincipal ? { not_id: item as Principal } : { not_rule: item as Permission };
    const leaf = (prefix: string): Matcher =>
      isPrincipal ? { direct_remote_ip: cidr(prefix) } : { destination_ip: cidr(prefix) };
    const parts: Matcher[] = [];
    for (const id of identities) {
      for (const { prefix, holes } of this.#byIdentity.get(id) ?? []) {
        parts.push(holes.length === 0 ? leaf(prefix) : and([leaf(prefix), not(or(holes.map(leaf)))]));
      }
      if (id === 2) {
        // world: no prefix of the ipcache covers the address
        parts.push(this.#all.length === 0 ? { any: true } : not(or(this.#all.map(leaf))));
      }
    }
    return or(parts);
  }
}

/** One-off form of AddressIndex.matcher. */
export function addressMatcher(
  identities: readonly number[],
  ipcache: readonly IpcacheEntry[],
  field: IpField,
): Matcher {
  return new AddressIndex(ipcache).matcher(identities, field);
}

function regex(name: string, value: string): Permission {
  return { header: { name, string_match: { safe_regex: { regex: value } } } };
}

/** One HTTP rule as an RBAC permission: every condition it has, Cilium's way (anchored RE2, exact headers). */
export function httpPermission(rule: HttpRule): Permission {
  const rules: Permission[] = [];
  if (rule.method !== undefined) rules.push(regex(":method", rule.method));
  if (rule.path !== undefined) rules.push(regex(":path", rule.path));
  if (rule.host !== undefined) rules.push(regex(":authority", rule.host));
  for (const h of rule.headers) {
    if (h.mismatch === "LOG") continue; // logged, not required
    if (h.never === true) rules.push({ not_rule: { any: true } });
    else if (h.value !== undefined)
      rules.push({ header: { name: h.name.toLowerCase(), string_match: { exact: h.value } } });
    else rules.push({ header: { name: h.name.toLowerCase(), present_match: true } });
  }
  if (rules.length === 0) return { any: true };
  return rules.length === 1 ? (rules[0] as Permission) : { and_rules: { rules } };
}

function rbacPolicy(rule: L7Rule, policy: L7Policy, addresses: AddressIndex): Policy {
  const requests: Permission =
    rule.http === "all"
      ? { any: true }
      : rule.http.length === 1
        ? httpPermission(rule.http[0] as HttpRule)
        : { or_rules: { rules: rule.http.map(httpPermission) } };
  if (policy.direction === "ingress") {
    return {
      permissions: [requests],
      principals: [rule.remote === "any" ? any() : addresses.matcher(rule.remote, "direct_remote_ip")],
    };
  }
  const destinations: Permission =
    rule.remote === "any" ? { any: true } : addresses.matcher(rule.remote, "destination_ip");
  return { permissions: [{ and_rules: { rules: [destinations, requests] } }], principals: [any()] };
}

function accessLog(path: string, policy: L7Policy): AccessLog {
  return {
    name: "envoy.access_loggers.file",
    typed_config: packAny("envoy.extensions.access_loggers.file.v3.FileAccessLog", {
      path,
      log_format: {
        json_format: {
          time: "%START_TIME%",
          direction: policy.direction,
          endpoint: String(policy.endpointId),
          source: "%DOWNSTREAM_REMOTE_ADDRESS%",
          destination: "%DOWNSTREAM_LOCAL_ADDRESS%",
          protocol: "%PROTOCOL%",
          method: "%REQ(:METHOD)%",
          path: "%REQ(:PATH)%",
          authority: "%REQ(:AUTHORITY)%",
          status: "%RESPONSE_CODE%",
          details: "%RESPONSE_CODE_DETAILS%",
          duration_ms: "%DURATION%",
        },
      },
    }),
  };
}

function filterChain(
  policy: L7Policy,
  node: NodePolicy,
  options: L7Options,
  addresses: AddressIndex,
): FilterChain | undefined {
  const ep = node.endpoints.find((e) => e.id === policy.endpointId);
  if (ep === undefined || ep.addresses.length === 0) return undefined;
  const ranges = ep.addresses.map((a) => cidr(`${a}/32`));
  const name = `${policy.direction}/${ep.pod ?? ep.id}/${policy.port}`;
  const policies = Object.fromEntries(
    policy.rules.map((r, i) => [`rule-${i}`, rbacPolicy(r, policy, addresses)]),
  );
  return {
    name,
    filter_chain_match:
      policy.direction === "ingress"
        ? { destination_port: policy.port, prefix_ranges: ranges }
        : { destination_port: policy.port, source_prefix_ranges: ranges },
    filters: [
      {
        name: "envoy.filters.network.http_connection_manager",
        typed_config: packAny(
          "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
          {
            stat_prefix: `strait_l7_${policy.direction}`,
            codec_type: "AUTO",
            route_config: {
              name,
              virtual_hosts: [
                {
                  name: "original-destination",
                  domains: ["*"],
                  routes: [{ match: { prefix: "/" }, route: { cluster: L7_CLUSTER, timeout: "0s" } }],
                },
              ],
            },
            http_filters: [
              {
                name: "envoy.filters.http.rbac",
                typed_config: packAny("envoy.extensions.filters.http.rbac.v3.RBAC", {
                  rules: { action: "ALLOW", policies },
                }),
              },
              {
                name: "envoy.filters.http.router",
                typed_config: packAny("envoy.extensions.filters.http.router.v3.Router", {}),
              },
            ],
            access_log: [accessLog(options.accessLog, policy)],
          },
        ),
      },
    ],
  };
}

export interface L7Resources {
  readonly listeners: ReadonlyMap<string, Listener>;
  readonly clusters: ReadonlyMap<string, Cluster>;
}

export function l7Resources(node: NodePolicy, options: L7Options): L7Resources {
  const byListener = new Map<
    string,
    { direction: "ingress" | "egress"; port: number; chains: FilterChain[] }
  >();
  const addresses = new AddressIndex(node.ipcache);
  for (const policy of node.l7) {
    const name = l7ListenerName(policy.direction, policy.proxyPort);
    const l = byListener.get(name) ?? { direction: policy.direction, port: policy.proxyPort, chains: [] };
    const chain = filterChain(policy, node, options, addresses);
    if (chain !== undefined) l.chains.push(chain);
    byListener.set(name, l);
  }
  const listeners = new Map<string, Listener>();
  for (const [name, l] of [...byListener].sort(([a], [b]) => (a < b ? -1 : 1))) {
    if (l.chains.length === 0) continue;
    listeners.set(name, {
      name,
      address: { socket_address: { address: "127.0.0.1", port_value: l.port } },
      ...transparentListenerOptions(),
      filter_chains: l.chains,
    });
  }
  const clusters = new Map<string, Cluster>();
  if (listeners.size > 0) {
    clusters.set(L7_CLUSTER, {
      name: L7_CLUSTER,
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      connect_timeout: "5s",
      typed_extension_protocol_options: {
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": packAny(
          "envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
          { use_downstream_protocol_config: {} },
        ),
      },
    });
  }
  return { listeners, clusters };
}
