/**
 * The desired state the policy-write benchmarks send (bench/datapath.ts
 * through the agent, bench/policy-write.ts in process): the server's
 * ingress policy of N entries on port 8080 (N-1 other identities plus the
 * client's, in the middle) and one L7 entry on 9090, and N ipcache /32s.
 */
import type { PolicyEntry } from "../src/model/endpoint-policy.ts";
import { desiredEndpoint as ep } from "../test/support/desired-endpoint.ts";

export const CLIENT_IDENTITY = 1001;
export const SERVER_IDENTITY = 1002;
export const PROXY_PORT = 15001;

export function fakeIp(i: number): string {
  // 100.64.0.0/10: never routed here, only matched.
  return `100.${64 + ((i >> 16) & 0x3f)}.${(i >> 8) & 0xff}.${i & 0xff}`;
}

export function allow(remote: number, port: number, extra: Partial<PolicyEntry> = {}): PolicyEntry {
  return {
    direction: "ingress",
    remoteIdentity: remote,
    protocol: "TCP",
    port,
    verdict: "allow",
    sources: [],
    ...extra,
  };
}

export function policyWriteState(n: number, clientIp: string, serverIp: string) {
  const entries: PolicyEntry[] = [];
  const ipcache = [
    { prefix: `${clientIp}/32`, identity: CLIENT_IDENTITY },
    { prefix: `${serverIp}/32`, identity: SERVER_IDENTITY },
  ];
  for (let i = 0; i < n - 1; i++) {
    entries.push(allow(2000 + i, 8080));
    ipcache.push({ prefix: `${fakeIp(i)}/32`, identity: 2000 + i });
  }
  entries.splice(Math.floor(entries.length / 2), 0, allow(CLIENT_IDENTITY, 8080));
  entries.push(allow(CLIENT_IDENTITY, 9090, { proxyPort: PROXY_PORT }));
  return {
    endpoints: [ep(1, CLIENT_IDENTITY, "client"), ep(2, SERVER_IDENTITY, "server")],
    policies: [{ endpointId: 2, ingressEnforced: true, egressEnforced: false, entries, sources: [] }],
    ipcache,
  };
}
