/**
 * A node's policy model → the agent's xDS resources (strait/v1/agent.proto)
 * as proto3 JSON, and back. One resource per endpoint (its policy), per
 * identity (its labels, and its prefixes in the node's ipcache), and the
 * node's auth settings, so a change to one pod updates one or two resources,
 * not the node's whole state (the delta protocol then sends only those).
 * With encryption on, one EncryptPolicy per local identity that sends flows
 * encrypted (named by the identity number).
 */

import type { EncryptEntry } from "../../model/encryption.ts";
import type {
  AuthType,
  EndpointPolicy,
  IdentityInfo,
  IpcacheEntry,
  L4Protocol,
  LocalEndpoint,
  NodePolicy,
  PolicyEntry,
} from "../../model/endpoint-policy.ts";
import { type MeshService, meshServiceName } from "../../model/mesh-service.ts";
import { STRAIT_TYPE_URLS } from "../proto/envoy-protos.ts";
import type {
  strait_v1_AuthSettings as AuthSettingsJson,
  strait_v1_EncryptEntry as EncryptEntryJson,
  strait_v1_EncryptPolicy as EncryptPolicyJson,
  strait_v1_EndpointPolicy as EndpointPolicyJson,
  strait_v1_HostPrefix as HostPrefixJson,
  strait_v1_IdentityHosts as IdentityHostsJson,
  strait_v1_Identity as IdentityJson,
  strait_v1_MeshService as MeshServiceJson,
  strait_v1_PolicyEntry as PolicyEntryJson,
  strait_v1_AuthType,
} from "../proto/envoy-types.ts";
import type { EnvoyResourceJson } from "./resource-set.ts";

export type AgentResourceSet = Readonly<Record<string, ReadonlyMap<string, EnvoyResourceJson>>>;

export interface AgentSettings {
  readonly trustDomain: string;
}

const AUTH: Readonly<Record<AuthType, strait_v1_AuthType>> = {
  none: "AUTH_NONE",
  "mtls-spiffe": "MTLS_SPIFFE",
  "always-fail": "ALWAYS_FAIL",
  "mtls-spiffe-encrypted": "MTLS_SPIFFE_ENCRYPTED",
};

function entryJson(e: PolicyEntry): PolicyEntryJson {
  const portless = e.protocol === "ANY" || e.protocol === "ICMP";
  return {
    direction: e.direction === "ingress" ? "INGRESS" : "EGRESS",
    remote_identity: e.remoteIdentity === "any" ? 0 : e.remoteIdentity,
    protocol: e.protocol,
    port: portless || e.port === "any" ? 0 : e.port,
    ...(e.endPort === undefined ? {} : { end_port: e.endPort }),
    verdict: e.verdict === "deny" ? "DENY" : "ALLOW",
    ...(e.proxyPort === undefined ? {} : { proxy_port: e.proxyPort }),
    ...(e.auth === undefined || e.auth === "none" ? {} : { auth: AUTH[e.auth] }),
  };
}

/** The resource name of an endpoint: its pod, else its id. */
export function endpointResourceName(ep: LocalEndpoint): string {
  return ep.pod ?? `endpoint/${ep.id}`;
}

/** The mesh services (GAMMA) as the agent's resources, the same set for every node. */
export function meshServiceResources(services: readonly MeshService[]): AgentResourceSet {
  return {
    [STRAIT_TYPE_URLS.meshService]: new Map(
      services.map((m): [string, MeshServiceJson] => [
        meshServiceName(m),
        {
          service: m.service,
          address: m.address,
          port: m.port,
          protocol: m.protocol,
          proxy_port: m.proxyPort,
        },
      ]),
    ),
  };
}

/**
 * The node's outbound encryption as one resource per local identity. The
 * type is always there (empty without encryption): the agent waits for every
 * type it subscribes to before it applies a first state.
 */
function encryptResources(outbound: readonly EncryptEntry[]): Map<string, EncryptPolicyJson> {
  const byLocal = new Map<number, EncryptEntryJson[]>();
  for (const e of outbound) {
    const list = byLocal.get(e.localIdentity) ?? [];
    list.push({
      remote_identity: e.remoteIdentity,
      protocol: e.protocol,
      ...(e.port === "any" ? {} : { port: e.port }), // proto3 leaves 0 (any) out
      proxy_port: e.proxyPort,
    });
    byLocal.set(e.localIdentity, list);
  }
  return new Map(
    [...byLocal]
      .sort(([a], [b]) => a - b)
      .map(([local, entries]): [string, EncryptPolicyJson] => [
        String(local),
        { local_identity: local, entries },
      ]),
  );
}

export function agentResources(node: NodePolicy, settings: AgentSettings): AgentResourceSet {
  const policies = new Map(node.policies.map((p) => [p.endpointId, p]));
  const endpoints = new Map<string, EndpointPolicyJson>();
  for (const ep of node.endpoints) {
    const p = policies.get(ep.id);
    endpoints.set(endpointResourceName(ep), {
      endpoint_id: ep.id,
      identity: ep.identity,
      pod: endpointResourceName(ep),
      addresses: ep.addresses,
      ingress_enforced: p?.ingressEnforced ?? false,
      egress_enforced: p?.egressEnforced ?? false,
      entries: (p?.entries ?? []).map(entryJson),
    });
  }
  const hosts = new Map<number, HostPrefixJson[]>();
  for (const e of node.ipcache) {
    const list = hosts.get(e.identity) ?? [];
    list.push({ prefix: e.prefix, ...(e.node === undefined ? {} : { node: e.node }) });
    hosts.set(e.identity, list);
  }
  return {
    [STRAIT_TYPE_URLS.identity]: new Map(
      node.identities.map((i): [string, IdentityJson] => [String(i.id), { id: i.id, labels: i.labels }]),
    ),
    [STRAIT_TYPE_URLS.identityHosts]: new Map(
      [...hosts].map(([identity, prefixes]): [string, IdentityHostsJson] => [
        String(identity),
        { identity, prefixes },
      ]),
    ),
    [STRAIT_TYPE_URLS.authSettings]: new Map<string, AuthSettingsJson>([
      ["default", { trust_domain: settings.trustDomain }],
    ]),
    [STRAIT_TYPE_URLS.endpointPolicy]: endpoints,
    [STRAIT_TYPE_URLS.encryptPolicy]: encryptResources(node.encryption?.outbound ?? []),
  };
}

// ---- the agent's side: resources (decoded to proto3 JSON) → its desired state ----

type Json = Readonly<Record<string, unknown>>;

const PROTOCOLS: Readonly<Record<string, L4Protocol>> = {
  ANY: "ANY",
  ICMP: "ICMP",
  TCP: "TCP",
  UDP: "UDP",
  SCTP: "SCTP",
};

const AUTH_BACK: Readonly<Record<string, AuthType>> = {
  AUTH_NONE: "none",
  MTLS_SPIFFE: "mtls-spiffe",
  ALWAYS_FAIL: "always-fail",
  MTLS_SPIFFE_ENCRYPTED: "mtls-spiffe-encrypted",
};

function num(v: unknown): number {
  return typeof v === "number" ? v : typeof v === "string" ? Number(v) : 0;
}

function entryFromJson(j: Json): PolicyEntry {
  const port = num(j.port);
  const endPort = num(j.end_port);
  const proxyPort = num(j.proxy_port);
  const auth = AUTH_BACK[String(j.auth ?? "AUTH_NONE")] ?? "none";
  const remote = num(j.remote_identity);
  return {
    direction: j.direction === "EGRESS" ? "egress" : "ingress",
    remoteIdentity: remote === 0 ? "any" : remote,
    protocol: PROTOCOLS[String(j.protocol ?? "ANY")] ?? "ANY",
    port: port === 0 ? "any" : port,
    ...(endPort === 0 || port === 0 ? {} : { endPort }),
    verdict: j.verdict === "DENY" ? "deny" : "allow",
    ...(proxyPort === 0 ? {} : { proxyPort }),
    ...(auth === "none" ? {} : { auth }),
    sources: [],
  };
}

export interface AgentState {
  readonly endpoints: readonly LocalEndpoint[];
  readonly policies: readonly EndpointPolicy[];
  readonly ipcache: readonly IpcacheEntry[];
  readonly identities: readonly IdentityInfo[];
  readonly trustDomain?: string;
  readonly meshServices: readonly MeshService[];
  readonly encrypt: readonly EncryptEntry[];
}

/** Resources by type URL then name (decoded), as the agent holds them → what it enforces. */
export function agentStateFrom(resources: ReadonlyMap<string, ReadonlyMap<string, Json>>): AgentState {
  const endpoints: LocalEndpoint[] = [];
  const policies: EndpointPolicy[] = [];
  for (const j of resources.get(STRAIT_TYPE_URLS.endpointPolicy)?.values() ?? []) {
    const id = num(j.endpoint_id);
    endpoints.push({
      id,
      identity: num(j.identity),
      addresses: Array.isArray(j.addresses) ? j.addresses.map(String) : [],
      hostInterface: "",
      pod: String(j.pod ?? ""),
      sources: [],
    });
    const entries = Array.isArray(j.entries) ? j.entries.map((e) => entryFromJson(e as Json)) : [];
    if (j.ingress_enforced === true || j.egress_enforced === true || entries.length > 0) {
      policies.push({
        endpointId: id,
        ingressEnforced: j.ingress_enforced === true,
        egressEnforced: j.egress_enforced === true,
        entries,
        sources: [],
      });
    }
  }
  const ipcache: IpcacheEntry[] = [];
  for (const j of resources.get(STRAIT_TYPE_URLS.identityHosts)?.values() ?? []) {
    const identity = num(j.identity);
    for (const p of Array.isArray(j.prefixes) ? (j.prefixes as Json[]) : []) {
      const node = typeof p.node === "string" && p.node !== "" ? p.node : undefined;
      ipcache.push({ prefix: String(p.prefix), identity, ...(node === undefined ? {} : { node }) });
    }
  }
  const identities: IdentityInfo[] = [...(resources.get(STRAIT_TYPE_URLS.identity)?.values() ?? [])].map(
    (j) => ({
      id: num(j.id),
      labels: Array.isArray(j.labels) ? j.labels.map(String) : [],
    }),
  );
  const meshServices: MeshService[] = [];
  for (const j of resources.get(STRAIT_TYPE_URLS.meshService)?.values() ?? []) {
    meshServices.push({
      service: String(j.service ?? ""),
      address: String(j.address ?? ""),
      port: num(j.port),
      protocol: "TCP",
      proxyPort: num(j.proxy_port),
    });
  }
  const encrypt: EncryptEntry[] = [];
  for (const j of resources.get(STRAIT_TYPE_URLS.encryptPolicy)?.values() ?? []) {
    const localIdentity = num(j.local_identity);
    for (const e of Array.isArray(j.entries) ? (j.entries as Json[]) : []) {
      const port = num(e.port);
      encrypt.push({
        localIdentity,
        remoteIdentity: num(e.remote_identity),
        protocol: "TCP", // the proto's validation allows nothing else
        port: port === 0 ? "any" : port,
        proxyPort: num(e.proxy_port),
      });
    }
  }
  const auth = resources.get(STRAIT_TYPE_URLS.authSettings)?.get("default");
  return {
    encrypt: encrypt.sort(
      (a, b) =>
        a.localIdentity - b.localIdentity ||
        a.remoteIdentity - b.remoteIdentity ||
        (a.port === "any" ? 0 : a.port) - (b.port === "any" ? 0 : b.port),
    ),
    meshServices: meshServices.sort((a, b) => meshServiceName(a).localeCompare(meshServiceName(b))),
    endpoints: endpoints.sort((a, b) => a.id - b.id),
    policies: policies.sort((a, b) => a.endpointId - b.endpointId),
    ipcache,
    identities: identities.sort((a, b) => a.id - b.id),
    ...(typeof auth?.trust_domain === "string" ? { trustDomain: auth.trust_domain } : {}),
  };
}
