/**
 * Every `strait` subcommand, in the order `strait --help` lists them. Each
 * entry loads its command on demand, so `strait version` or `strait observe`
 * does not pay for importing the controller, the translators and the
 * datapath (the CLI starts in a fraction of the time). The name and summary
 * here are checked against the loaded command by a test.
 */
import type { Command } from "../command.ts";

export interface CommandEntry {
  readonly name: string;
  /** One line for `strait --help`. */
  readonly summary: string;
  load(): Promise<Command>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: "run",
    summary: "Run the controller: watch resources, serve xDS, write status",
    load: async () => (await import("./run.ts")).runCommand,
  },
  {
    name: "translate",
    summary: "Print the Envoy configuration strait generates for some manifests",
    load: async () => (await import("./translate.ts")).translateCommand,
  },
  {
    name: "status",
    summary: "Print the status strait would write on each object of some manifests",
    load: async () => (await import("./status.ts")).statusCommand,
  },
  {
    name: "simulate",
    summary: "Show where a request goes through a Gateway or the mesh, and why",
    load: async () => (await import("./simulate.ts")).simulateCommand,
  },
  {
    name: "policy",
    summary: "Explain a CiliumNetworkPolicy verdict for one flow (policy trace)",
    load: async () => (await import("./policy.ts")).policyCommand,
  },
  {
    name: "proxy-status",
    summary: "List the xDS clients of a running controller and their sync state",
    load: async () => (await import("./proxy-status.ts")).proxyStatusCommand,
  },
  {
    name: "proxy-config",
    summary: "Show an Envoy's configuration as Envoy reports it, beside what strait sent it",
    load: async () => (await import("./proxy-config.ts")).proxyConfigCommand,
  },
  {
    name: "agent",
    summary: "Run the node agent: eBPF datapath, TPROXY rules, flow events",
    load: async () => (await import("./agent.ts")).agentCommand,
  },
  {
    name: "observe",
    summary: "Print the datapath's flows (like hubble observe)",
    load: async () => (await import("./observe.ts")).observeCommand,
  },
  {
    name: "version",
    summary: "Print strait's version and the Gateway API version it implements",
    load: async () => (await import("./version.ts")).versionCommand,
  },
];
