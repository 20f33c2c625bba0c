/**
 * What the auth manager needs of the desired state, computed from the plain
 * model (endpoints, their policies, the ipcache): which identities are local,
 * which (local, remote) pairs a policy entry requires mutual auth for, and on
 * which nodes each remote identity lives. It decides what is garbage in the
 * auth map. Pure. The policy stage (src/policy) produces the same model, so
 * nothing changes here when it feeds the agent over xDS.
 */
import type { AuthType, EndpointPolicy, IpcacheEntry, LocalEndpoint } from "../../model/endpoint-policy.ts";
import { type AuthKey, LOCAL_NODE } from "./auth-key.ts";

/**
 * The auth types whose entries the auth manager handshakes for (auth map
 * type mtls-spiffe). mtls-spiffe-encrypted counts too: a flow between pods
 * of this node is checked in the auth map as mtls-spiffe (bpf/lxc.c), and
 * only a flow from another node goes through the Envoys' tunnel instead.
 */
const HANDSHAKE_AUTH: ReadonlySet<AuthType> = new Set(["mtls-spiffe", "mtls-spiffe-encrypted"]);

export interface AuthDesired {
  readonly localIdentities: ReadonlySet<number>;
  /** local identity → remote identities (or "any") that need mtls-spiffe (or mtls-spiffe-encrypted). */
  readonly required: ReadonlyMap<number, ReadonlySet<number | "any">>;
  /** remote identity → the nodes (IPv4, LOCAL_NODE for this one) where it has endpoints. */
  readonly nodesOf: ReadonlyMap<number, ReadonlySet<string>>;
}

export function authDesiredOf(state: {
  readonly endpoints: readonly LocalEndpoint[];
  readonly policies: readonly EndpointPolicy[];
  readonly ipcache: readonly IpcacheEntry[];
}): AuthDesired {
  const identityOf = new Map(state.endpoints.map((e) => [e.id, e.identity]));
  const localIdentities = new Set(state.endpoints.map((e) => e.identity));
  const required = new Map<number, Set<number | "any">>();
  for (const p of state.policies) {
    const local = identityOf.get(p.endpointId);
    if (local === undefined) continue;
    for (const e of p.entries) {
      if (e.verdict !== "allow" || !HANDSHAKE_AUTH.has(e.auth ?? "none")) continue;
      let set = required.get(local);
      if (set === undefined) {
        set = new Set();
        required.set(local, set);
      }
      set.add(e.remoteIdentity);
    }
  }
  const nodesOf = new Map<number, Set<string>>();
  const add = (identity: number, node: string) => {
    let set = nodesOf.get(identity);
    if (set === undefined) {
      set = new Set();
      nodesOf.set(identity, set);
    }
    set.add(node);
  };
  for (const e of state.ipcache) add(e.identity, e.node ?? LOCAL_NODE);
  for (const identity of localIdentities) add(identity, LOCAL_NODE);
  return { localIdentities, required, nodesOf };
}

/** Why an entry is no longer wanted, or undefined when it still is. */
export function staleReason(d: AuthDesired, k: AuthKey): string | undefined {
  if (!d.localIdentities.has(k.localIdentity)) return "local identity has no endpoint here any more";
  const req = d.required.get(k.localIdentity);
  if (req === undefined || (!req.has(k.remoteIdentity) && !req.has("any")))
    return "no policy requires it any more";
  if (!(d.nodesOf.get(k.remoteIdentity)?.has(k.remoteNode) ?? false)) {
    return "remote identity has no endpoint on that node any more";
  }
  return undefined;
}
