/**
 * Two "nodes" for mutual-auth tests: two NodeLabs (each a node namespace
 * with its own agent, pods and pins) joined by a veth pair between the node
 * namespaces, with a route to each other's pod subnet, as two hosts on one
 * L2 segment would be. Node A is 10.233.<n>.1, node B 10.233.<n>.2.
 */
import { execFileSync } from "node:child_process";
import { NodeLab } from "./netns-lab.ts";

export class TwoNodeLab {
  readonly a: NodeLab;
  readonly b: NodeLab;
  readonly addressA: string;
  readonly addressB: string;
  /** The link's interface in node A's and node B's namespace. */
  readonly linkA: string;
  readonly linkB: string;

  constructor(octetA: number, octetB: number, linkOctet: number) {
    this.a = new NodeLab(octetA, "a");
    this.b = new NodeLab(octetB, "b");
    this.addressA = `10.233.${linkOctet}.1`;
    this.addressB = `10.233.${linkOctet}.2`;
    const ifA = `stau${process.pid % 100000}a`;
    const ifB = `stau${process.pid % 100000}b`;
    this.linkA = ifA;
    this.linkB = ifB;
    execFileSync("ip", [
      "link",
      "add",
      ifA,
      "netns",
      this.a.nodeNs,
      "type",
      "veth",
      "peer",
      "name",
      ifB,
      "netns",
      this.b.nodeNs,
    ]);
    this.a.inNode("ip", ["addr", "add", `${this.addressA}/30`, "dev", ifA]);
    this.b.inNode("ip", ["addr", "add", `${this.addressB}/30`, "dev", ifB]);
    this.a.inNode("ip", ["link", "set", ifA, "up"]);
    this.b.inNode("ip", ["link", "set", ifB, "up"]);
    this.a.inNode("ip", ["route", "add", `${this.b.subnet}.0/24`, "via", this.addressB]);
    this.b.inNode("ip", ["route", "add", `${this.a.subnet}.0/24`, "via", this.addressA]);
    for (const lab of [this.a, this.b]) lab.inNode("sysctl", ["-qw", "net.ipv4.ip_forward=1"]);
    this.a.podRoutes.push(`${this.b.subnet}.0/24`);
    this.b.podRoutes.push(`${this.a.subnet}.0/24`);
  }

  cleanup(): void {
    this.a.cleanup(); // the veth pair goes with its namespaces
    this.b.cleanup();
  }
}
