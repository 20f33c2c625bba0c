/** The ports the node's TPROXY rules are needed for, from a desired state. Pure. */
import type { DesiredState } from "./desired-state.ts";

/** The policy's L7 proxy ports and the mesh listeners', each once, sorted. */
export function proxyPortsOf(state: DesiredState): number[] {
  const policyPorts = state.policies.flatMap((p) =>
    p.entries.flatMap((e) => (e.proxyPort === undefined ? [] : [e.proxyPort])),
  );
  const meshPorts = state.meshServices.map((m) => m.proxyPort);
  return [...new Set([...policyPorts, ...meshPorts])].sort((a, b) => a - b);
}
