/**
 * The datapath edge of the agent: loads bpf/ (through the libbpf addon in
 * native/), attaches its tc programs to endpoint interfaces, owns the BPF
 * maps (one codec per map in codecs/), installs the TPROXY rules, and reads
 * flow events and counters. Only this folder talks to the kernel's BPF.
 */
export { type DatapathObject, DEFAULT_PIN_ROOT, loadDatapathObject } from "./bpf-object.ts";
