import { describe, expect, it } from "vitest";
import type { PolicyEntry } from "../../model/endpoint-policy.ts";
import { authDesiredOf, staleReason } from "./auth-desired.ts";
import { LOCAL_NODE } from "./auth-key.ts";

const entry = (
  remoteIdentity: number | "any",
  auth?: "mtls-spiffe" | "mtls-spiffe-encrypted",
): PolicyEntry => ({
  direction: "ingress",
  remoteIdentity,
  protocol: "TCP",
  port: 80,
  verdict: "allow",
  ...(auth === undefined ? {} : { auth }),
  sources: [],
});

const state = (entries: PolicyEntry[], ipcacheNode = "192.0.2.7") => ({
  endpoints: [
    { id: 1, identity: 1002, addresses: [], hostInterface: "", pod: "default/server", sources: [] },
  ],
  policies: [{ endpointId: 1, ingressEnforced: true, egressEnforced: false, entries, sources: [] }],
  ipcache: [{ prefix: "10.9.0.5/32", identity: 1001, node: ipcacheNode }],
});

const key = {
  localIdentity: 1002,
  remoteIdentity: 1001,
  remoteNode: "192.0.2.7",
  authType: "mtls-spiffe" as const,
};

describe("which auth entries are still wanted", () => {
  it("keeps an entry a policy requires, for a peer on the node the ipcache names", () => {
    expect(staleReason(authDesiredOf(state([entry(1001, "mtls-spiffe")])), key)).toBeUndefined();
    expect(staleReason(authDesiredOf(state([entry("any", "mtls-spiffe")])), key)).toBeUndefined();
  });
  it("drops it when the policy no longer requires auth, the peer moved nodes, or the local identity left", () => {
    expect(staleReason(authDesiredOf(state([entry(1001)])), key)).toMatch(/no policy/);
    expect(staleReason(authDesiredOf(state([entry(1001, "mtls-spiffe")], "192.0.2.8")), key)).toMatch(
      /that node/,
    );
    expect(
      staleReason(authDesiredOf(state([entry(1001, "mtls-spiffe")])), { ...key, localIdentity: 1005 }),
    ).toMatch(/local identity/);
  });
  it("keeps the entries an mtls-spiffe-encrypted entry requires, as mtls-spiffe ones (same-node peers still handshake)", () => {
    const d = authDesiredOf({
      ...state([entry(1002, "mtls-spiffe-encrypted"), entry(1001, "mtls-spiffe-encrypted")]),
    });
    expect(d.required.get(1002)).toEqual(new Set([1002, 1001]));
    expect(staleReason(d, { ...key, remoteIdentity: 1002, remoteNode: LOCAL_NODE })).toBeUndefined();
    expect(staleReason(d, key)).toBeUndefined();
    expect(
      staleReason(authDesiredOf(state([entry(1001, "mtls-spiffe-encrypted")])), {
        ...key,
        localIdentity: 1005,
      }),
    ).toMatch(/local identity/);
  });
  it("treats local endpoints as being on this node", () => {
    const d = authDesiredOf({ ...state([entry(1002, "mtls-spiffe")]), ipcache: [] });
    expect(staleReason(d, { ...key, remoteIdentity: 1002, remoteNode: LOCAL_NODE })).toBeUndefined();
  });
});
