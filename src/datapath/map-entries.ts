/**
 * The desired content of each map, computed from the model: pure, so the
 * reconciler can diff it against what the kernel holds. A content maps the
 * encoded C key to the encoded C value, both as latin1 strings (one char per
 * byte): compared and hashed by the Map as the kernel compares bytes, cheap
 * to build (no Buffer per entry), and written straight into MapSync's batch
 * buffers. `entryBytes` turns one back into bytes.
 */
import type { EndpointPolicy, IpcacheEntry, PolicyEntry } from "../model/endpoint-policy.ts";
import { mustParseIpv4, parseIpv4Prefix } from "../net/ipv4.ts";
import { ENDPOINT_KEY, encodeEndpointInfo, encodeEndpointKey } from "./codecs/endpoints.ts";
import { encodeIpcacheInfo, encodeIpcacheKey, IPCACHE_INFO, IPCACHE_KEY } from "./codecs/ipcache.ts";
import { offsetOf } from "./codecs/layout.ts";
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

/** One zeroed scratch buffer per struct, reused for every entry: the strings copy out of it. */
function scratch(size: number): (fill: (b: Buffer) => void) => string {
  const b = Buffer.alloc(size);
  return (fill) => {
    b.fill(0);
    fill(b);
    return b.toString("latin1", 0, size);
  };
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
  const key = scratch(ENDPOINT_KEY.size);
  for (const ep of endpoints) {
    const value = encodeEndpointInfo(ep).toString("latin1");
    for (const addr of ep.addresses)
      out.set(
        key((b) => encodeEndpointKey(mustParseIpv4(addr), b)),
        value,
      );
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

const FLAGS_AT = offsetOf(POLICY_ENTRY, "flags");

/**
 * Policy entries of the given endpoints. Two model entries may share a key
 * (same peer, protocol and port); then a deny wins, as it would in the
 * datapath, and among allows the one with a proxy port or auth type is kept.
 */
export function policyEntries(policies: readonly EndpointPolicy[]): MapContent {
  const out = new Map<string, string>();
  const key = scratch(POLICY_KEY.size);
  const value = scratch(POLICY_ENTRY.size);
  for (const policy of policies) {
    for (const entry of expandRanges(policy.entries)) {
      const k = key((b) => encodePolicyKey(policyKeyOf(policy.endpointId, entry), b));
      const v = policyValueOf(entry);
      const previous = out.get(k);
      if (previous !== undefined) {
        if ((previous.charCodeAt(FLAGS_AT) & POLICY_FLAGS.DENY) !== 0) continue;
        if (!v.deny && v.proxyPort === 0 && v.authType === 0) continue;
      }
      out.set(
        k,
        value((b) => encodePolicyValue(v, b)),
      );
    }
  }
  return out;
}

export function ipcacheEntries(entries: readonly IpcacheEntry[]): MapContent {
  const out = new Map<string, string>();
  const key = scratch(IPCACHE_KEY.size);
  const info = scratch(IPCACHE_INFO.size);
  for (const e of entries) {
    const prefix = parseIpv4Prefix(e.prefix);
    if (!prefix.ok) throw new TypeError(prefix.error); // validated before
    out.set(
      key((b) => encodeIpcacheKey(prefix.value, b)),
      info((b) =>
        encodeIpcacheInfo(
          { identity: e.identity, ...(e.node === undefined ? {} : { node: mustParseIpv4(e.node) }) },
          b,
        ),
      ),
    );
  }
  return out;
}
