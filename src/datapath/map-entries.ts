/**
 * The desired content of each map, computed from the model: pure, so the
 * reconciler can diff it against what the kernel holds. A content maps the
 * encoded C key to the encoded C value, both as latin1 strings (one char per
 * byte): compared and hashed by the Map as the kernel compares bytes, cheap
 * to build (no Buffer per entry), and written straight into MapSync's batch
 * buffers. `entryBytes` turns one back into bytes.
 */

import type { EncryptEntry } from "../model/encryption.ts";
import type { EndpointPolicy, IpcacheEntry, PolicyEntry } from "../model/endpoint-policy.ts";
import type { MeshService } from "../model/mesh-service.ts";
import { mustParseIpv4, parseIpv4Prefix } from "../net/ipv4.ts";
import { ENCRYPT_KEY, encodeEncryptInfo, encodeEncryptKey, encryptKeyOf } from "./codecs/encrypt.ts";
import { ENDPOINT_KEY, encodeEndpointInfo, encodeEndpointKey } from "./codecs/endpoints.ts";
import { encodeIpcacheInfo, encodeIpcacheKey, IPCACHE_INFO, IPCACHE_KEY } from "./codecs/ipcache.ts";
import { offsetOf } from "./codecs/layout.ts";
import { encodeMeshSvcInfo, encodeMeshSvcKey, meshSvcKeyOf } from "./codecs/mesh.ts";
import {
  encodePolicyKey,
  encodePolicyValue,
  POLICY_ENTRY,
  POLICY_FLAGS,
  POLICY_KEY,
  policyKeyOf,
  policyValueOf,
} from "./codecs/policy.ts";

/** Key bytes → value bytes, as latin1 strings. */
export type MapContent = ReadonlyMap<string, string>;

/** The bytes of a content key or value. */
export function entryBytes(latin1: string): Buffer {
  return Buffer.from(latin1, "latin1");
}

/** One scratch buffer per struct, reused for every entry (zeroed for each): the strings copy out of it. */
class Scratch {
  readonly buffer: Buffer;
  constructor(size: number) {
    this.buffer = Buffer.alloc(size);
  }
  zeroed(): Buffer {
    return this.buffer.fill(0);
  }
  string(): string {
    return this.buffer.toString("latin1");
  }
}

/** An endpoint as the datapath needs it: its interface resolved to an ifindex. */
export interface ProgrammedEndpoint {
  readonly id: number;
  readonly identity: number;
  readonly addresses: readonly string[];
  readonly ifindex: number;
  readonly ingressEnforced: boolean;
  readonly egressEnforced: boolean;
}

export function endpointEntries(endpoints: readonly ProgrammedEndpoint[]): MapContent {
  const out = new Map<string, string>();
  const key = new Scratch(ENDPOINT_KEY.size);
  for (const ep of endpoints) {
    const value = encodeEndpointInfo(ep).toString("latin1");
    for (const addr of ep.addresses) {
      encodeEndpointKey(mustParseIpv4(addr), key.zeroed());
      out.set(key.string(), value);
    }
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
    if (!isRange(e)) {
      yield e;
      continue;
    }
    const { endPort: _end, ...single } = e;
    for (let port = e.port as number; port <= (e.endPort ?? 0); port++) yield { ...single, port };
  }
}

function isRange(e: PolicyEntry): boolean {
  return e.endPort !== undefined && e.port !== "any" && e.endPort > e.port;
}

const FLAGS_AT = offsetOf(POLICY_ENTRY, "flags");

/**
 * Policy entries of the given endpoints. Two model entries may share a key
 * (same peer, protocol and port); then a deny wins, as it would in the
 * datapath, and among allows the one with a proxy port or auth type is kept.
 */
export function policyEntries(policies: readonly EndpointPolicy[]): MapContent {
  const out = new Map<string, string>();
  const key = new Scratch(POLICY_KEY.size);
  const value = new Scratch(POLICY_ENTRY.size);
  // A state has few distinct values (verdict, auth, proxy port): each encoded once.
  const values = new Map<number, string>();
  for (const policy of policies) {
    // The generator only for a policy with port ranges: most have none, and a plain loop is faster.
    const entries = policy.entries.some(isRange) ? [...expandRanges(policy.entries)] : policy.entries;
    for (const entry of entries) {
      encodePolicyKey(policyKeyOf(policy.endpointId, entry), key.zeroed());
      const k = key.string();
      const v = policyValueOf(entry);
      const previous = out.get(k);
      if (previous !== undefined) {
        if ((previous.charCodeAt(FLAGS_AT) & POLICY_FLAGS.DENY) !== 0) continue;
        if (!v.deny && v.proxyPort === 0 && v.authType === 0) continue;
      }
      const id = (v.deny ? 1 << 24 : 0) + v.authType * 0x10000 + v.proxyPort;
      let encoded = values.get(id);
      if (encoded === undefined) {
        encodePolicyValue(v, value.zeroed());
        encoded = value.string();
        values.set(id, encoded);
      }
      out.set(k, encoded);
    }
  }
  return out;
}

export function ipcacheEntries(entries: readonly IpcacheEntry[]): MapContent {
  const out = new Map<string, string>();
  const key = new Scratch(IPCACHE_KEY.size);
  const info = new Scratch(IPCACHE_INFO.size);
  for (const e of entries) {
    const prefix = parseIpv4Prefix(e.prefix);
    if (!prefix.ok) throw new TypeError(prefix.error); // validated before
    encodeIpcacheKey(prefix.value, key.zeroed());
    encodeIpcacheInfo(
      e.node === undefined ? { identity: e.identity } : { identity: e.identity, node: mustParseIpv4(e.node) },
      info.zeroed(),
    );
    out.set(key.string(), info.string());
  }
  return out;
}

/** One entry per Service address and port (validation refuses two proxy ports for one). */
export function meshServiceEntries(services: readonly MeshService[]): MapContent {
  const out = new Map<string, string>();
  for (const m of services)
    out.set(
      encodeMeshSvcKey(meshSvcKeyOf(m)).toString("latin1"),
      encodeMeshSvcInfo(m.proxyPort).toString("latin1"),
    );
  return out;
}

/** One entry per (local identity, remote identity, port); validation refuses two proxy ports for one. */
export function encryptEntries(entries: readonly EncryptEntry[]): MapContent {
  const out = new Map<string, string>();
  const key = new Scratch(ENCRYPT_KEY.size);
  for (const e of entries) {
    encodeEncryptKey(encryptKeyOf(e), key.zeroed());
    out.set(key.string(), encodeEncryptInfo(e.proxyPort).toString("latin1"));
  }
  return out;
}
