/**
 * An endpoint of the agent's desired state as the kernel tests and benchmarks
 * write it: its interface found by strait-cni's report (no host interface
 * given), pod `default/<pod>`.
 */
export function desiredEndpoint(id: number, identity: number, pod: string) {
  return { id, identity, addresses: [], hostInterface: "", pod: `default/${pod}`, sources: [] };
}
