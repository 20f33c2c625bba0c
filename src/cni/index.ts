/**
 * strait-cni: a CNI chaining plugin (spec 1.0.0 / 1.1.0, and 0.4.0). The
 * container runtime runs it after the primary plugin (ptp, bridge, ...); it
 * reads the primary plugin's result (`prevResult`), finds the pod's
 * host-side interface and addresses, and tells the agent over its unix
 * socket, which attaches the datapath. Imports stay minimal: the plugin is
 * exec'd once per pod and per verb, so its start-up time counts.
 */
export { runCni } from "./plugin.ts";
