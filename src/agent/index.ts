/**
 * Composition of the agent process (`strait agent`, one per node): desired
 * state (endpoints, their policies, the ipcache, the mesh services) from one source, endpoint
 * interfaces from strait-cni, both turned into the eBPF datapath's maps and
 * tc attachments and the TPROXY rules; flow events and counters on the
 * agent's local API. The datapath itself is src/datapath/.
 */
export { type RunningAgent, startAgent } from "./start.ts";
