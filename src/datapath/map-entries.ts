/**
 * The desired content of each map, computed from the model: pure, so the
 * reconciler can diff it against what the kernel holds. Keys are hex strings
 * of the encoded C key (what the kernel compares), values the encoded C value.
 */
import type { EndpointPolicy, IpcacheEntry, PolicyEntry } from "../model/endpoint-policy.ts";
import type { MeshService } from "../model/mesh-service.ts";
import { mustParseIpv4, parseIpv4Prefix } from "../net/ipv4.ts";
import { encodeEndpointInfo, encodeEndpointKey } from "./codecs/endpoints.ts";
import { encodeIpcacheInfo, encodeIpcacheKey } from "./codecs/ipcache.ts";
import { encodeMeshSvcInfo, encodeMeshSvcKey, meshSvcKeyOf } from "./codecs/mesh.ts";
import { encodePolicyKey, encodePolicyValue, policyKeyOf, policyValueOf } from "./codecs/policy.ts";

export interface MapEntry {
  readonly key: Buffer;
  readonly value: Buffer;
}

export type MapContent = ReadonlyMap<string, MapEntry>;

/** An endpoint as the datapath needs it: its interface resolved to an ifindex. */
export interface ProgrammedEndpoint {
  readonly id: number;
  readonly identity: number;
  readonly addresses: readonly string[];
  readonly ifindex: number;
  readonly ingressEnforced: boolean;
  readonly egressEnforced: boolean;
}

function put(into: Map<string, MapEntry>, key: Buffer, value: Buffer): void {
  into.set(key.toString("hex"), { key, value });
}

export function endpointEntries(endpoints: readonly ProgrammedEndpoint[]): MapContent {
  const out = new Map<string, MapEntry>();
  for (const ep of endpoints) {
    const value = encodeEndpointInfo(ep);
    for (const addr of ep.addresses) put(out, encodeEndpointKey(mustParseIpv4(addr)), value);
  }
  return out;
}

/**
 * A port range (`endPort`) is one hash-map key per port: the datapath's
 * lookup is exact on ports, so a range costs its width in map entries (the
 * capacity check counts them before anything is written).
 */
function* expandRanges(entries: readonly PolicyEntry[]): Generator<PolicyEntry> {
  for (const e of entries) {
    if (e.endPort === undefined || e.port === "any" || e.endPort <= e.port) {
      yield e;
      continue;
    }
    const { endPort: _end, ...single } = e;
    for (let port = e.port; port <= e.endPort; port++) yield { ...single, port };
  }
}

/**
 * Policy entries of the given endpoints. Two model entries may share a key
 * (same peer, protocol and port); then a deny wins, as it would in the
 * datapath, and among allows the one with a proxy port or auth type is kept.
 */
export function policyEntries(policies: readonly EndpointPolicy[]): MapContent {
  const out = new Map<string, MapEntry>();
  for (const policy of policies) {
    for (const entry of expandRanges(policy.entries)) {
      const key = encodePolicyKey(policyKeyOf(policy.endpointId, entry));
      const value = policyValueOf(entry);
      const hex = key.toString("hex");
      const previous = out.get(hex);
      if (previous !== undefined) {
        const prevDeny = (previous.value[0] ?? 0) !== 0;
        if (prevDeny) continue;
        if (!value.deny && value.proxyPort === 0 && value.authType === 0) continue;
      }
      out.set(hex, { key, value: encodePolicyValue(value) });
    }
  }
  return out;
}

export function ipcacheEntries(entries: readonly IpcacheEntry[]): MapContent {
  const out = new Map<string, MapEntry>();
  for (const e of entries) {
    const prefix = parseIpv4Prefix(e.prefix);
    if (!prefix.ok) throw new TypeError(prefix.error); // validated before
    put(
      out,
      encodeIpcacheKey(prefix.value),
      encodeIpcacheInfo({
        identity: e.identity,
        ...(e.node === undefined ? {} : { node: mustParseIpv4(e.node) }),
      }),
    );
  }
  return out;
}

/** One entry per Service address and port (validation refuses two proxy ports for one). */
export function meshServiceEntries(services: readonly MeshService[]): MapContent {
  const out = new Map<string, MapEntry>();
  for (const m of services) put(out, encodeMeshSvcKey(meshSvcKeyOf(m)), encodeMeshSvcInfo(m.proxyPort));
  return out;
}
