/**
 * The datapath as the agent drives it: the loaded object with its pinned
 * maps, a reconciler that brings the maps to a desired state with no window
 * of wrong verdicts, tc attachment per endpoint interface, the auth map,
 * counters and flow events.
 */

import type { EncryptEntry } from "../model/encryption.ts";
import type { AuthType, EndpointPolicy, IpcacheEntry } from "../model/endpoint-policy.ts";
import type { MeshService } from "../model/mesh-service.ts";
import { err, ok, type Result } from "../model/result.ts";
import { mustParseIpv4 } from "../net/ipv4.ts";
import { type DatapathObject, loadDatapathObject, type MapName } from "./bpf-object.ts";
import { encodeAuthInfo, encodeAuthKey } from "./codecs/auth.ts";
import { COUNTERS_MAX, encodeCounterKey, sumPerCpu } from "./codecs/counters.ts";
import { AUTH_TYPES } from "./codecs/policy.ts";
import {
  encryptEntries,
  endpointEntries,
  ipcacheEntries,
  meshServiceEntries,
  type ProgrammedEndpoint,
  policyEntries,
} from "./map-entries.ts";
import { MapSync, type MapWriteError } from "./map-sync.ts";
import { addon, errnoName } from "./native.ts";
import { DIR_MAX, DROP_REASON_MAX, VERDICT_MAX } from "./reasons.ts";

export interface DatapathDesired {
  readonly endpoints: readonly ProgrammedEndpoint[];
  /** Policies of the programmed endpoints (by endpointId). */
  readonly policies: readonly EndpointPolicy[];
  readonly ipcache: readonly IpcacheEntry[];
  /** Service ports whose new flows go to the node Envoy's mesh listener (GAMMA). */
  readonly meshServices: readonly MeshService[];
  /** Flows to pods of other nodes that the node Envoy carries encrypted (src/model/encryption.ts). */
  readonly encrypt: readonly EncryptEntry[];
}

type OwnedMap = "endpoints" | "policy" | "ipcache" | "meshServices" | "encrypt";

export interface ApplyStats {
  readonly written: number;
  readonly deleted: number;
  readonly entries: Readonly<Record<OwnedMap, number>>;
}

export interface CounterSample {
  readonly direction: number;
  readonly verdict: number;
  readonly reason: number;
  readonly packets: bigint;
  readonly bytes: bigint;
}

export class Datapath {
  readonly object: DatapathObject;
  readonly #endpoints: MapSync;
  readonly #policy: MapSync;
  readonly #ipcache: MapSync;
  readonly #mesh: MapSync;
  readonly #encrypt: MapSync;
  #ring: number | undefined;
  readonly #cpus: number;

  private constructor(object: DatapathObject) {
    this.object = object;
    this.#endpoints = new MapSync(object.maps.strait_endpoints);
    this.#policy = new MapSync(object.maps.strait_policy);
    this.#ipcache = new MapSync(object.maps.strait_ipcache);
    this.#mesh = new MapSync(object.maps.strait_mesh_svc);
    this.#encrypt = new MapSync(object.maps.strait_encrypt);
    this.#cpus = addon().possibleCpus();
  }

  /** Loads the object; with a pin root, reuses the maps a previous agent pinned there. */
  static open(options: { readonly pinRoot: string | null; readonly objectPath?: string }): Datapath {
    return new Datapath(loadDatapathObject(options));
  }

  /** Entries in the agent-owned maps, as last written (no syscall). */
  entryCounts(): Readonly<
    Record<
      "strait_endpoints" | "strait_policy" | "strait_ipcache" | "strait_mesh_svc" | "strait_encrypt",
      number
    >
  > {
    return {
      strait_endpoints: this.#endpoints.size,
      strait_policy: this.#policy.size,
      strait_ipcache: this.#ipcache.size,
      strait_mesh_svc: this.#mesh.size,
      strait_encrypt: this.#encrypt.size,
    };
  }

  map(name: MapName) {
    return this.object.maps[name];
  }

  /**
   * Brings endpoints, policy, ipcache, mesh services and encrypt entries to `desired`. Order, and why:
   * 1. upsert encrypt entries: a flow they send into the node Envoys' tunnel
   *    counts as authenticated under the old policy too, so an egress entry
   *    that turns mtls-spiffe-encrypted in step 2 never meets a flow still
   *    sent in the clear (DROP_NOT_ENCRYPTED); the caller installs the TPROXY
   *    rule of a new proxy port before, so a redirected flow finds its rule;
   * 2. upsert ipcache and policy entries: new entries of endpoints that are
   *    not enforced yet change nothing, and an added deny wins at once;
   * 3. upsert endpoints: enforcement flags flip only once their policy is in;
   * 4. upsert mesh services: they depend on no other map (a ClusterIP is no
   *    endpoint and has no identity), and their listener's rule is in as well;
   * 5. prune encrypt entries, mesh services, policy, endpoints, ipcache: stale entries go last, so an
   *    endpoint that stops being enforced allows all before its entries vanish.
   * At every moment each flow gets either the old state's verdict or the new
   * one's (or, while step 1 is in and step 2 is not, the new redirect under the
   * old policy, which drops nothing the old state passed). A state that would
   * not fit a map is refused before any write.
   */
  apply(desired: DatapathDesired): Result<ApplyStats, MapWriteError[]> {
    const content = {
      endpoints: endpointEntries(desired.endpoints),
      policy: policyEntries(desired.policies),
      ipcache: ipcacheEntries(desired.ipcache),
      meshServices: meshServiceEntries(desired.meshServices),
      encrypt: encryptEntries(desired.encrypt),
    };
    const syncs = {
      endpoints: this.#endpoints,
      policy: this.#policy,
      ipcache: this.#ipcache,
      meshServices: this.#mesh,
      encrypt: this.#encrypt,
    };
    const full: MapWriteError[] = [];
    for (const [name, sync] of Object.entries(syncs) as [keyof typeof syncs, MapSync][]) {
      const needed = sync.sizeDuringUpdate(content[name]);
      const capacity = sync.map.info.maxEntries;
      if (content[name].size > capacity || needed > capacity) {
        full.push({
          map: sync.map.name,
          kind: "full",
          message: `${sync.map.name} is full: the state needs ${content[name].size} entries (${needed} while updating), capacity ${capacity}`,
        });
      }
    }
    if (full.length > 0) return err(full);

    let written = 0;
    for (const name of ["encrypt", "ipcache", "policy", "endpoints", "meshServices"] as const) {
      const r = syncs[name].upsert(content[name]);
      written += r.written;
      if (r.error !== undefined) return err([r.error]);
    }
    let deleted = 0;
    for (const name of ["encrypt", "meshServices", "policy", "endpoints", "ipcache"] as const)
      deleted += syncs[name].prune(content[name]);
    return ok({
      written,
      deleted,
      entries: {
        endpoints: content.endpoints.size,
        policy: content.policy.size,
        ipcache: content.ipcache.size,
        meshServices: content.meshServices.size,
        encrypt: content.encrypt.size,
      },
    });
  }

  /**
   * Attaches from_endpoint (veth ingress) and to_endpoint (veth egress). A
   * new program replaces an old one in place. Both or neither: when the
   * second attach fails the first is undone, so no interface is left half-attached.
   */
  attach(ifindex: number): Result<void> {
    const native = addon();
    const a = native.tcAttach(ifindex, true, this.object.programs.fromEndpoint);
    if (a < 0) return err(`tc ingress attach on ifindex ${ifindex}: ${errnoName(a)}`);
    const b = native.tcAttach(ifindex, false, this.object.programs.toEndpoint);
    if (b < 0) {
      native.tcDetach(ifindex, true);
      return err(`tc egress attach on ifindex ${ifindex}: ${errnoName(b)}`);
    }
    return ok(undefined);
  }

  detach(ifindex: number): void {
    addon().tcDetach(ifindex, true);
    addon().tcDetach(ifindex, false);
  }

  /** Whether both programs are attached to the interface. */
  attached(ifindex: number): boolean {
    return addon().tcQuery(ifindex, true) > 0 && addon().tcQuery(ifindex, false) > 0;
  }

  /** Writes an auth map entry valid for `seconds` (the auth manager's job; tests and the local API use it too). */
  setAuth(key: {
    readonly localIdentity: number;
    readonly remoteIdentity: number;
    readonly remoteNode?: string;
    readonly authType: Exclude<AuthType, "none">;
    readonly seconds: number;
  }): Result<void> {
    const encoded = encodeAuthKey({
      localIdentity: key.localIdentity,
      remoteIdentity: key.remoteIdentity,
      ...(key.remoteNode === undefined || key.remoteNode === "0.0.0.0"
        ? {}
        : { remoteNode: mustParseIpv4(key.remoteNode) }),
      authType: AUTH_TYPES[key.authType],
    });
    const expires = addon().bootTimeNs() + BigInt(Math.round(key.seconds * 1e9));
    const rc = this.object.maps.strait_auth.update(encoded, encodeAuthInfo(expires));
    return rc < 0 ? err(`strait_auth: ${errnoName(rc)}`) : ok(undefined);
  }

  /** Every non-zero counter, summed over CPUs. */
  counters(): CounterSample[] {
    const out: CounterSample[] = [];
    const map = this.object.maps.strait_counters;
    const stride = Math.ceil(map.info.valueSize / 8) * 8;
    for (let index = 0; index < COUNTERS_MAX; index++) {
      const raw = map.lookup(encodeCounterKey(index), stride * this.#cpus);
      if (raw === undefined) continue;
      const { packets, bytes } = sumPerCpu(raw, this.#cpus);
      if (packets === 0n) continue;
      const reason = index % DROP_REASON_MAX;
      const verdict = Math.floor(index / DROP_REASON_MAX) % VERDICT_MAX;
      const direction = Math.floor(index / (DROP_REASON_MAX * VERDICT_MAX)) % DIR_MAX;
      out.push({ direction, verdict, reason, packets, bytes });
    }
    return out;
  }

  /** Ring-buffer records available now (never blocks); decodeFlowEvent reads them. */
  readEventRecords(): Buffer[] {
    this.#ring ??= addon().ringbufOpen(this.object.maps.strait_events.info.fd);
    return addon().ringbufConsume(this.#ring);
  }

  /** Closes the agent's handles. Pinned maps and attached programs stay: enforcement goes on. */
  close(): void {
    if (this.#ring !== undefined) addon().ringbufClose(this.#ring);
    this.#ring = undefined;
    this.object.close();
  }
}
