/**
 * The agent's Prometheus metrics: the datapath's per-CPU counters (summed
 * when scraped), map fill, rejected updates, full maps and flow events.
 */
import { Counter, Gauge, Registry } from "prom-client";
import type { Datapath } from "../datapath/datapath.ts";
import { DROP_REASON_NAMES, VERDICT_NAMES } from "../datapath/reasons.ts";

export interface AgentMetrics {
  readonly registry: Registry;
  readonly rejected: Counter<"origin">;
  readonly mapFull: Counter<"map">;
  readonly flowEvents: Counter;
}

export function createAgentMetrics(datapath: Datapath): AgentMetrics {
  const registry = new Registry();
  const labelsOf = (s: { direction: number; verdict: number; reason: number }) => ({
    direction: s.direction === 0 ? "ingress" : "egress",
    verdict: VERDICT_NAMES[s.verdict] ?? String(s.verdict),
    reason: s.reason === 0 ? "none" : (DROP_REASON_NAMES[s.reason] ?? String(s.reason)),
  });
  new Counter({
    name: "strait_datapath_packets_total",
    help: "Packets seen by the datapath, by direction (of the endpoint), verdict and drop reason.",
    labelNames: ["direction", "verdict", "reason"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of datapath.counters()) this.inc(labelsOf(s), Number(s.packets));
    },
  });
  new Counter({
    name: "strait_datapath_bytes_total",
    help: "Bytes seen by the datapath, by direction, verdict and drop reason.",
    labelNames: ["direction", "verdict", "reason"] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const s of datapath.counters()) this.inc(labelsOf(s), Number(s.bytes));
    },
  });
  new Gauge({
    name: "strait_datapath_map_entries",
    help: "Entries in each agent-owned BPF map.",
    labelNames: ["map"] as const,
    registers: [registry],
    collect() {
      for (const [map, n] of Object.entries(datapath.entryCounts())) this.set({ map }, n);
    },
  });
  new Gauge({
    name: "strait_datapath_map_capacity",
    help: "Capacity (max entries) of each agent-owned BPF map.",
    labelNames: ["map"] as const,
    registers: [registry],
    collect() {
      for (const name of Object.keys(datapath.entryCounts()) as (keyof ReturnType<
        typeof datapath.entryCounts
      >)[]) {
        this.set({ map: name }, datapath.map(name).info.maxEntries);
      }
    },
  });
  const rejected = new Counter({
    name: "strait_agent_rejected_updates_total",
    help: "Desired-state updates rejected as invalid (the previous state stays enforced), by origin.",
    labelNames: ["origin"] as const,
    registers: [registry],
  });
  const mapFull = new Counter({
    name: "strait_datapath_map_full_total",
    help: "Updates refused because a BPF map would overflow (nothing was truncated), by map.",
    labelNames: ["map"] as const,
    registers: [registry],
  });
  const flowEvents = new Counter({
    name: "strait_flow_events_total",
    help: "Flow events read from the datapath's ring buffer.",
    registers: [registry],
  });
  return { registry, rejected, mapFull, flowEvents };
}
