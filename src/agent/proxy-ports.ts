/** The ports the node's TPROXY rules are needed for, from a desired state. Pure. */
import type { DesiredState } from "./desired-state.ts";

/** The policy's L7 proxy ports, the mesh listeners' and the encryption listener's, each once, sorted. */
export function proxyPortsOf(state: DesiredState): number[] {
  // Loops, not flatMap: a state has up to several 100,000 entries, and flatMap makes an array per entry.
  const ports = new Set<number>();
  for (const p of state.policies)
    for (const e of p.entries) if (e.proxyPort !== undefined) ports.add(e.proxyPort);
  for (const m of state.meshServices) ports.add(m.proxyPort);
  for (const e of state.encrypt) ports.add(e.proxyPort);
  return [...ports].sort((a, b) => a - b);
}
