/**
 * The auth map's key in the auth manager's terms (bpf/lib/auth.h): which
 * local identity has authenticated which remote identity on which node.
 * `remoteNode` "0.0.0.0" is this node (both pods local).
 */
export const LOCAL_NODE = "0.0.0.0";

export interface AuthKey {
  readonly localIdentity: number;
  readonly remoteIdentity: number;
  readonly remoteNode: string;
  readonly authType: "mtls-spiffe";
}

export function authKeyString(k: AuthKey): string {
  return `${k.localIdentity}>${k.remoteIdentity}@${k.remoteNode}/${k.authType}`;
}

/** An entry as the manager and the agent API show it. */
export interface AuthEntry {
  readonly key: AuthKey;
  readonly expires: Date;
}

/** Where entries are kept: the BPF map on a node (datapath-auth-map.ts), a plain map in tests. */
export interface AuthMapStore {
  /** false when the map refused it (full): the flow stays blocked, which is fail-closed. */
  upsert(key: AuthKey, expires: Date): boolean;
  delete(key: AuthKey): void;
  /** The expiry of one entry (one lookup, for the per-event path). */
  get(key: AuthKey): Date | undefined;
  list(): AuthEntry[];
}

export class MemoryAuthMap implements AuthMapStore {
  readonly entries = new Map<string, AuthEntry>();

  upsert(key: AuthKey, expires: Date): boolean {
    this.entries.set(authKeyString(key), { key, expires });
    return true;
  }

  delete(key: AuthKey): void {
    this.entries.delete(authKeyString(key));
  }

  get(key: AuthKey): Date | undefined {
    return this.entries.get(authKeyString(key))?.expires;
  }

  list(): AuthEntry[] {
    return [...this.entries.values()];
  }
}
