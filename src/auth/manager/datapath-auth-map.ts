/**
 * The auth map in the kernel (strait_auth, bpf/lib/auth.h) as an
 * AuthMapStore. Expiry is kept on CLOCK_BOOTTIME, the clock the datapath
 * compares with; wall-clock dates are converted at the edge.
 */
import type { BpfMap } from "../../datapath/bpf-object.ts";
import { decodeAuthInfo, decodeAuthKey, encodeAuthInfo, encodeAuthKey } from "../../datapath/codecs/auth.ts";
import { AUTH_TYPES } from "../../datapath/codecs/policy.ts";
import { addon } from "../../datapath/native.ts";
import { mustParseIpv4 } from "../../net/ipv4.ts";
import type { AuthEntry, AuthKey, AuthMapStore } from "./auth-key.ts";
import { LOCAL_NODE } from "./auth-key.ts";

export class DatapathAuthMap implements AuthMapStore {
  readonly #map: BpfMap;
  readonly #now: () => number;

  constructor(map: BpfMap, now: () => number = Date.now) {
    this.#map = map;
    this.#now = now;
  }

  #encode(key: AuthKey): Buffer {
    return encodeAuthKey({
      localIdentity: key.localIdentity,
      remoteIdentity: key.remoteIdentity,
      ...(key.remoteNode === LOCAL_NODE ? {} : { remoteNode: mustParseIpv4(key.remoteNode) }),
      authType: AUTH_TYPES[key.authType],
    });
  }

  upsert(key: AuthKey, expires: Date): boolean {
    const inMs = expires.getTime() - this.#now();
    const boot = addon().bootTimeNs() + BigInt(Math.max(0, Math.round(inMs * 1e6)));
    return this.#map.update(this.#encode(key), encodeAuthInfo(boot)) >= 0;
  }

  delete(key: AuthKey): void {
    this.#map.delete(this.#encode(key));
  }

  get(key: AuthKey): Date | undefined {
    const value = this.#map.lookup(this.#encode(key));
    if (value === undefined) return undefined;
    return new Date(this.#now() + Number(decodeAuthInfo(value) - addon().bootTimeNs()) / 1e6);
  }

  list(): AuthEntry[] {
    const bootNow = addon().bootTimeNs();
    const wallNow = this.#now();
    const out: AuthEntry[] = [];
    for (const raw of this.#map.keys()) {
      const value = this.#map.lookup(raw);
      if (value === undefined) continue;
      const k = decodeAuthKey(raw);
      if (k.authType !== AUTH_TYPES["mtls-spiffe"]) continue; // entries others wrote (always-fail tests)
      const ms = Number(decodeAuthInfo(value) - bootNow) / 1e6;
      out.push({
        key: {
          localIdentity: k.localIdentity,
          remoteIdentity: k.remoteIdentity,
          remoteNode: k.remoteNodeText,
          authType: "mtls-spiffe",
        },
        expires: new Date(wallNow + ms),
      });
    }
    return out;
  }
}
