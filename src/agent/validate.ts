/**
 * Strict validation of a desired-state update (JSON from the local API or a
 * file): every error names its field. Pure.
 */

import type { EncryptEntry } from "../model/encryption.ts";
import {
  type AuthType,
  type EndpointPolicy,
  FIRST_WORKLOAD_IDENTITY,
  type IpcacheEntry,
  type L4Protocol,
  type LocalEndpoint,
  type PolicyEntry,
} from "../model/endpoint-policy.ts";
import { type MeshService, meshServiceName } from "../model/mesh-service.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import { err, ok, type Result } from "../model/result.ts";
import { parseIpv4, parseIpv4Prefix } from "../net/ipv4.ts";
import type { DesiredState, FieldError } from "./desired-state.ts";

const PROTOCOLS: readonly L4Protocol[] = ["TCP", "UDP", "SCTP", "ICMP", "ANY"];
const AUTH: readonly AuthType[] = ["none", "mtls-spiffe", "always-fail", "mtls-spiffe-encrypted"];
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

type Obj = Record<string, unknown>;

const SOURCE_FIELDS = ["group", "kind", "namespace", "name"];
// Made once: a desired state has up to several 100,000 entries.
const ENTRY_FIELDS = [
  "direction",
  "remoteIdentity",
  "protocol",
  "port",
  "endPort",
  "verdict",
  "proxyPort",
  "auth",
  "sources",
];
const IPCACHE_FIELDS = ["prefix", "identity", "node"];
/** Shared by every entry without sources (read-only). */
const NO_SOURCES: readonly ResourceRef[] = Object.freeze([]);

class Checker {
  readonly errors: FieldError[] = [];

  fail(field: string, message: string): undefined {
    this.errors.push({ field, message });
    return undefined;
  }

  object(v: unknown, field: string): Obj | undefined {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return this.fail(field, "must be an object");
    return v as Obj;
  }

  /** Fields outside `known` are errors: a typo must not pass silently. */
  only(o: Obj, field: string, known: readonly string[]): void {
    for (const key of Object.keys(o)) if (!known.includes(key)) this.fail(`${field}.${key}`, "unknown field");
  }

  array(v: unknown, field: string): unknown[] | undefined {
    if (v === undefined) return [];
    if (!Array.isArray(v)) return this.fail(field, "must be a list");
    return v;
  }

  int(v: unknown, field: string, min: number, max: number): number | undefined {
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
      return this.fail(field, `must be an integer in ${min}..${max}`);
    }
    return v;
  }

  identity(v: unknown, field: string): number | undefined {
    return this.int(v, field, 1, 0xffffffff);
  }

  string(v: unknown, field: string): string | undefined {
    if (typeof v !== "string") return this.fail(field, "must be a string");
    return v;
  }

  /** Each source is `{ group, kind, namespace, name }` of strings, nothing else (they end up in status and on disk). */
  sources(v: unknown, field: string): readonly ResourceRef[] {
    const list = this.array(v, field) ?? [];
    const out: ResourceRef[] = [];
    list.forEach((item, i) => {
      const f = `${field}[${i}]`;
      const o = this.object(item, f);
      if (o === undefined) return;
      this.only(o, f, SOURCE_FIELDS);
      const [group, kind, namespace, name] = SOURCE_FIELDS.map((k) =>
        o[k] === undefined && (k === "group" || k === "namespace") ? "" : this.string(o[k], `${f}.${k}`),
      );
      if (group === undefined || kind === undefined || namespace === undefined || name === undefined) return;
      out.push({ group, kind, namespace, name });
    });
    return out;
  }
}

function endpoint(c: Checker, v: unknown, f: string): LocalEndpoint | undefined {
  const o = c.object(v, f);
  if (o === undefined) return undefined;
  c.only(o, f, ["id", "identity", "addresses", "hostInterface", "pod", "sources"]);
  const id = c.int(o.id, `${f}.id`, 1, 65535);
  const identity = c.identity(o.identity, `${f}.identity`);
  const addresses = (c.array(o.addresses, `${f}.addresses`) ?? []).map((a, i) => {
    const s = c.string(a, `${f}.addresses[${i}]`);
    if (s === undefined) return "";
    const p = parseIpv4(s);
    if (!p.ok) c.fail(`${f}.addresses[${i}]`, p.error);
    return s;
  });
  const hostInterface = o.hostInterface === undefined ? "" : c.string(o.hostInterface, `${f}.hostInterface`);
  if (hostInterface !== undefined && hostInterface !== "" && !IFNAME.test(hostInterface)) {
    c.fail(`${f}.hostInterface`, "must be an interface name (1..15 of A-Z a-z 0-9 _ . -)");
  }
  const pod = o.pod === undefined ? undefined : c.string(o.pod, `${f}.pod`);
  if (hostInterface === "" && pod === undefined && addresses.length === 0) {
    c.fail(`${f}`, "needs hostInterface, pod or addresses to be matched with an interface");
  }
  if (id === undefined || identity === undefined || hostInterface === undefined) return undefined;
  return {
    id,
    identity,
    addresses,
    hostInterface,
    ...(pod === undefined ? {} : { pod }),
    sources: c.sources(o.sources, `${f}.sources`),
  };
}

function entry(c: Checker, v: unknown, f: string): PolicyEntry | undefined {
  const o = c.object(v, f);
  if (o === undefined) return undefined;
  c.only(o, f, ENTRY_FIELDS);
  const direction = o.direction;
  if (direction !== "ingress" && direction !== "egress")
    c.fail(`${f}.direction`, 'must be "ingress" or "egress"');
  const remoteIdentity =
    o.remoteIdentity === "any" ? "any" : c.identity(o.remoteIdentity, `${f}.remoteIdentity`);
  const protocol = o.protocol ?? "ANY";
  if (!PROTOCOLS.includes(protocol as L4Protocol))
    c.fail(`${f}.protocol`, `must be one of ${PROTOCOLS.join(", ")}`);
  const port = o.port === undefined || o.port === "any" ? "any" : c.int(o.port, `${f}.port`, 1, 65535);
  const endPort = o.endPort === undefined ? undefined : c.int(o.endPort, `${f}.endPort`, 1, 65535);
  if (endPort !== undefined && (port === "any" || (port !== undefined && endPort < port))) {
    c.fail(`${f}.endPort`, "must be a port at or after port");
  }
  const verdict = o.verdict;
  if (verdict !== "allow" && verdict !== "deny") c.fail(`${f}.verdict`, 'must be "allow" or "deny"');
  const proxyPort = o.proxyPort === undefined ? undefined : c.int(o.proxyPort, `${f}.proxyPort`, 1, 65535);
  const auth = o.auth;
  if (auth !== undefined && !AUTH.includes(auth as AuthType))
    c.fail(`${f}.auth`, `must be one of ${AUTH.join(", ")}`);
  if (verdict === "deny" && (proxyPort !== undefined || (auth !== undefined && auth !== "none"))) {
    c.fail(f, "a deny entry takes neither proxyPort nor auth");
  }
  if (remoteIdentity === undefined || port === undefined) return undefined;
  const sources = o.sources === undefined ? NO_SOURCES : c.sources(o.sources, `${f}.sources`);
  if (endPort === undefined && proxyPort === undefined && auth === undefined) {
    // The common entry in one object literal: no `...(cond ? {} : {...})` spreads.
    return {
      direction: direction as PolicyEntry["direction"],
      remoteIdentity,
      protocol: protocol as L4Protocol,
      port,
      verdict: verdict as PolicyEntry["verdict"],
      sources,
    };
  }
  return {
    direction: direction as PolicyEntry["direction"],
    remoteIdentity,
    protocol: protocol as L4Protocol,
    port,
    ...(endPort === undefined ? {} : { endPort }),
    verdict: verdict as PolicyEntry["verdict"],
    ...(proxyPort === undefined ? {} : { proxyPort }),
    ...(auth === undefined ? {} : { auth: auth as AuthType }),
    sources,
  };
}

function policy(c: Checker, v: unknown, f: string): EndpointPolicy | undefined {
  const o = c.object(v, f);
  if (o === undefined) return undefined;
  c.only(o, f, ["endpointId", "ingressEnforced", "egressEnforced", "entries", "sources"]);
  const endpointId = c.int(o.endpointId, `${f}.endpointId`, 1, 65535);
  for (const flag of ["ingressEnforced", "egressEnforced"]) {
    if (typeof o[flag] !== "boolean") c.fail(`${f}.${flag}`, "must be true or false");
  }
  const entries = (c.array(o.entries, `${f}.entries`) ?? []).map((e, i) => entry(c, e, `${f}.entries[${i}]`));
  if (endpointId === undefined) return undefined;
  return {
    endpointId,
    ingressEnforced: o.ingressEnforced === true,
    egressEnforced: o.egressEnforced === true,
    entries: entries.filter((e): e is PolicyEntry => e !== undefined),
    sources: c.sources(o.sources, `${f}.sources`),
  };
}

function ipcacheEntry(c: Checker, v: unknown, f: string): IpcacheEntry | undefined {
  const o = c.object(v, f);
  if (o === undefined) return undefined;
  c.only(o, f, IPCACHE_FIELDS);
  const prefix = c.string(o.prefix, `${f}.prefix`);
  if (prefix !== undefined) {
    const p = parseIpv4Prefix(prefix);
    if (!p.ok) c.fail(`${f}.prefix`, p.error);
  }
  const identity = c.identity(o.identity, `${f}.identity`);
  const node = o.node === undefined ? undefined : c.string(o.node, `${f}.node`);
  if (node !== undefined && !parseIpv4(node).ok) c.fail(`${f}.node`, `"${node}" is not an IPv4 address`);
  if (prefix === undefined || identity === undefined) return undefined;
  return node === undefined ? { prefix, identity } : { prefix, identity, node };
}

function meshService(c: Checker, v: unknown, f: string): MeshService | undefined {
  const o = c.object(v, f);
  if (o === undefined) return undefined;
  c.only(o, f, ["service", "address", "port", "protocol", "proxyPort"]);
  const service = c.string(o.service, `${f}.service`);
  if (service === "") c.fail(`${f}.service`, "must name the Service (namespace/name)");
  const address = c.string(o.address, `${f}.address`);
  if (address !== undefined) {
    const p = parseIpv4(address);
    if (!p.ok) c.fail(`${f}.address`, p.error);
  }
  const port = c.int(o.port, `${f}.port`, 1, 65535);
  // The mesh listener speaks HTTP: TCP only (a UDP Service port has no HTTPRoute to apply).
  if (o.protocol !== undefined && o.protocol !== "TCP") c.fail(`${f}.protocol`, 'must be "TCP"');
  const proxyPort = c.int(o.proxyPort, `${f}.proxyPort`, 1, 65535);
  if (service === undefined || address === undefined || port === undefined || proxyPort === undefined)
    return undefined;
  return { service, address, port, protocol: "TCP", proxyPort };
}

function encryptEntry(c: Checker, v: unknown, f: string): EncryptEntry | undefined {
  const o = c.object(v, f);
  if (o === undefined) return undefined;
  c.only(o, f, ["localIdentity", "remoteIdentity", "protocol", "port", "proxyPort"]);
  const localIdentity = c.identity(o.localIdentity, `${f}.localIdentity`);
  const remoteIdentity = c.identity(o.remoteIdentity, `${f}.remoteIdentity`);
  // The tunnel carries streams (HTTP/2 CONNECT): TCP only.
  if (o.protocol !== undefined && o.protocol !== "TCP") c.fail(`${f}.protocol`, 'must be "TCP"');
  const port = o.port === undefined || o.port === "any" ? "any" : c.int(o.port, `${f}.port`, 1, 65535);
  const proxyPort = c.int(o.proxyPort, `${f}.proxyPort`, 1, 65535);
  if (
    localIdentity === undefined ||
    remoteIdentity === undefined ||
    port === undefined ||
    proxyPort === undefined
  )
    return undefined;
  return { localIdentity, remoteIdentity, protocol: "TCP", port, proxyPort };
}

/** Parses and checks a desired state; every problem is reported with its field path. */
export function validateDesiredState(input: unknown): Result<DesiredState, FieldError[]> {
  const c = new Checker();
  const o = c.object(input, "(root)");
  if (o === undefined) return err(c.errors);
  for (const key of Object.keys(o)) {
    if (!["endpoints", "policies", "ipcache", "meshServices", "encrypt"].includes(key))
      c.fail(key, "unknown field");
  }
  const endpoints = (c.array(o.endpoints, "endpoints") ?? []).map((e, i) =>
    endpoint(c, e, `endpoints[${i}]`),
  );
  const policies = (c.array(o.policies, "policies") ?? []).map((p, i) => policy(c, p, `policies[${i}]`));
  const ipcache = (c.array(o.ipcache, "ipcache") ?? []).map((e, i) => ipcacheEntry(c, e, `ipcache[${i}]`));
  const meshServices = (c.array(o.meshServices, "meshServices") ?? []).map((m, i) =>
    meshService(c, m, `meshServices[${i}]`),
  );
  const encrypt = (c.array(o.encrypt, "encrypt") ?? []).map((e, i) => encryptEntry(c, e, `encrypt[${i}]`));

  const ids = new Map<number, number>();
  endpoints.forEach((e, i) => {
    if (e === undefined) return;
    const seen = ids.get(e.id);
    if (seen !== undefined) c.fail(`endpoints[${i}].id`, `${e.id} is also endpoints[${seen}].id`);
    ids.set(e.id, i);
    if (e.identity < FIRST_WORKLOAD_IDENTITY && e.identity !== 5) {
      c.fail(`endpoints[${i}].identity`, `a workload identity is >= ${FIRST_WORKLOAD_IDENTITY}`);
    }
  });
  const owned = new Set<number>();
  policies.forEach((p, i) => {
    if (p === undefined) return;
    if (!ids.has(p.endpointId)) c.fail(`policies[${i}].endpointId`, `no endpoint has id ${p.endpointId}`);
    if (owned.has(p.endpointId))
      c.fail(`policies[${i}].endpointId`, `endpoint ${p.endpointId} has two policies`);
    owned.add(p.endpointId);
  });
  // One map entry per address and port: two entries for one would leave the proxy port to chance.
  const services = new Map<string, number>();
  meshServices.forEach((m, i) => {
    if (m === undefined) return;
    const name = meshServiceName(m);
    const seen = services.get(name);
    if (seen !== undefined) c.fail(`meshServices[${i}]`, `${name} is also meshServices[${seen}]`);
    services.set(name, i);
  });
  // One map entry per identity pair and port, for the same reason.
  const flows = new Map<string, number>();
  encrypt.forEach((e, i) => {
    if (e === undefined) return;
    const name = `${e.localIdentity}>${e.remoteIdentity}:${e.port}`;
    const seen = flows.get(name);
    if (seen !== undefined) c.fail(`encrypt[${i}]`, `${name} is also encrypt[${seen}]`);
    flows.set(name, i);
  });
  if (c.errors.length > 0) return err(c.errors);
  return ok({
    endpoints: endpoints as LocalEndpoint[],
    policies: policies as EndpointPolicy[],
    ipcache: ipcache as IpcacheEntry[],
    meshServices: meshServices as MeshService[],
    encrypt: encrypt as EncryptEntry[],
  });
}
