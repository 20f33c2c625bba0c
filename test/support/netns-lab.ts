/**
 * A node and its pods in network namespaces, wired the way a container
 * runtime does it: `ip netns add`, then the CNI chain (the reference ptp
 * plugin with host-local IPAM, then strait-cni) exec'd with a CNI config.
 * Everything of the "node" (host-side veths, routes, TPROXY rules, table
 * 2004) lives in a node namespace the lab creates, so nothing touches the
 * real host. Names carry a prefix; `sweep` removes leftovers of crashed runs.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { REPO, StraitProcess } from "./strait-process.ts";

export const LAB_PREFIX = "stlab";
const CNI_PATH = "/usr/lib/cni";
const STRAIT_CNI = join(REPO, "bin/strait-cni");

function sh(cmd: string, args: readonly string[], input?: string): string {
  return execFileSync(cmd, [...args], { encoding: "utf8", ...(input === undefined ? {} : { input }) });
}

/** Deletes namespaces and pin folders left by an earlier, crashed run of the lab. */
export function sweepLeftovers(): void {
  const list = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "";
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    if (name.startsWith(`${LAB_PREFIX}-`)) spawnSync("ip", ["netns", "del", name]);
  }
  try {
    for (const d of readdirSync("/sys/fs/bpf")) {
      if (d.startsWith(`strait-${LAB_PREFIX}-`))
        rmSync(join("/sys/fs/bpf", d), { recursive: true, force: true });
    }
  } catch {
    // bpffs not mounted yet: nothing to sweep
  }
}

export interface Reply {
  readonly id: number;
  readonly ok?: boolean;
  readonly reply?: string;
  readonly error?: string;
  readonly [k: string]: unknown;
}

/** A pod-helper process inside one namespace. */
export class NsHelper {
  readonly child: ChildProcess;
  readonly events: Reply[] = [];
  #next = 1;
  readonly #waiting = new Map<number, (r: Reply) => void>();

  constructor(netns: string, tag: string) {
    this.child = spawn(
      "nsenter",
      [`--net=/run/netns/${netns}`, process.execPath, join(REPO, "test/support/pod-helper.ts"), tag],
      { stdio: ["pipe", "pipe", "inherit"] },
    );
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      let r: Reply;
      try {
        r = JSON.parse(line) as Reply;
      } catch {
        return; // a line cut short when the helper was killed
      }
      if (r.event === true) this.events.push(r);
      else this.#waiting.get(r.id)?.(r);
    });
  }

  call(op: string, args: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.#next++;
    return new Promise((resolve) => {
      this.#waiting.set(id, resolve);
      this.child.stdin?.write(`${JSON.stringify({ id, op, ...args })}\n`);
    });
  }

  stop(): void {
    this.child.stdin?.end();
    this.child.kill("SIGKILL");
  }
}

export interface Pod {
  readonly name: string;
  readonly namespace: string;
  readonly netns: string;
  readonly containerId: string;
  readonly ip: string;
  readonly hostInterface: string;
  readonly helper: NsHelper;
  /** The chain's ADD result, which a runtime passes to CHECK and DEL as prevResult. */
  readonly result: unknown;
}

export class NodeLab {
  readonly id: string;
  readonly nodeNs: string;
  readonly dir: string;
  readonly socket: string;
  readonly stateDir: string;
  readonly pinRoot: string;
  readonly subnet: string;
  readonly pods: Pod[] = [];
  readonly helpers: NsHelper[] = [];
  /** Extra routes (destination CIDRs) pods get through the node, e.g. another lab's pod subnet. */
  readonly podRoutes: string[] = [];
  readonly externals: string[] = [];

  /** `octet` picks the lab's private /24: 10.<octet>.0.0/24; `name` tells two labs of one test apart. */
  constructor(octet: number, name?: string) {
    this.id = name === undefined ? `${LAB_PREFIX}-${process.pid}` : `${LAB_PREFIX}-${process.pid}-${name}`;
    this.nodeNs = `${this.id}-node`;
    this.dir = mkdtempSync(join(tmpdir(), `${this.id}-`));
    this.socket = join(this.dir, "agent.sock");
    this.stateDir = join(this.dir, "state");
    this.pinRoot = `/sys/fs/bpf/strait-${this.id}`;
    this.subnet = `10.${octet}.0`;
    sh("ip", ["netns", "add", this.nodeNs]);
    this.inNode("ip", ["link", "set", "lo", "up"]);
  }

  /** `strait agent` for this lab: in the node namespace, with the lab's socket, state and pins. */
  startAgent(logLevel: string, extraArgs: readonly string[] = []): StraitProcess {
    return new StraitProcess(
      [
        "agent",
        "--http-address",
        "127.0.0.1:0",
        "--api-socket",
        this.socket,
        "--state-dir",
        this.stateDir,
        "--bpf-root",
        this.pinRoot,
        "--log-level",
        logLevel,
        ...extraArgs,
      ],
      {},
      ["nsenter", `--net=/run/netns/${this.nodeNs}`],
    );
  }

  inNode(cmd: string, args: readonly string[], input?: string): string {
    return sh("nsenter", [`--net=/run/netns/${this.nodeNs}`, cmd, ...args], input);
  }

  nodeHelper(): NsHelper {
    const h = new NsHelper(this.nodeNs, "node");
    this.helpers.push(h);
    return h;
  }

  /** A strait command (`run`, say) in the node namespace. */
  startInNode(args: readonly string[]): StraitProcess {
    return new StraitProcess(args, {}, ["nsenter", `--net=/run/netns/${this.nodeNs}`]);
  }

  /**
   * A host outside the cluster ("the world"): its own namespace joined to the
   * node by a veth, holding `addresses` (a /24 each), routed from the node.
   */
  addExternal(name: string, addresses: readonly string[]): NsHelper {
    const netns = `${this.id}-${name}`;
    const hostSide = `${LAB_PREFIX}${process.pid % 100000}${name.slice(0, 3)}`.slice(0, 15);
    sh("ip", ["netns", "add", netns]);
    this.externals.push(netns);
    sh("ip", [
      "link",
      "add",
      hostSide,
      "netns",
      this.nodeNs,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      netns,
    ]);
    const inNs = (args: readonly string[]) => sh("ip", ["-n", netns, ...args]);
    inNs(["link", "set", "lo", "up"]);
    inNs(["link", "set", "eth0", "up"]);
    this.inNode("ip", ["link", "set", hostSide, "up"]);
    this.inNode("ip", ["addr", "add", "192.0.2.1/32", "dev", hostSide]);
    for (const a of addresses) {
      inNs(["addr", "add", `${a}/32`, "dev", "eth0"]);
      this.inNode("ip", ["route", "replace", `${a}/32`, "dev", hostSide]);
    }
    inNs(["route", "add", "192.0.2.1/32", "dev", "eth0"]);
    inNs(["route", "add", "default", "via", "192.0.2.1", "dev", "eth0", "onlink"]);
    const helper = new NsHelper(netns, name);
    this.helpers.push(helper);
    return helper;
  }

  #cniEnv(
    command: string,
    pod: { netns: string; containerId: string; name: string; namespace?: string },
  ): NodeJS.ProcessEnv {
    return {
      ...process.env,
      CNI_COMMAND: command,
      CNI_CONTAINERID: pod.containerId,
      CNI_NETNS: `/run/netns/${pod.netns}`,
      CNI_IFNAME: "eth0",
      CNI_PATH: CNI_PATH,
      CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace ?? "default"};K8S_POD_NAME=${pod.name}`,
    };
  }

  /** The network list (conflist) a runtime would hold: ptp + host-local, then strait-cni. */
  conflist(): { cniVersion: string; name: string; plugins: Record<string, unknown>[] } {
    return {
      cniVersion: "1.0.0",
      name: this.id,
      plugins: [
        {
          type: "ptp",
          ipMasq: false,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: `${this.subnet}.0/24` }]],
            // A default route through the node, so pods reach hosts outside the cluster (addExternal).
            routes: [{ dst: "0.0.0.0/0" }, ...this.podRoutes.map((dst) => ({ dst }))],
            dataDir: join(this.dir, "ipam"),
          },
        },
        { type: "strait-cni", agentSocket: this.socket },
      ],
    };
  }

  /** Runs one plugin of the chain inside the node namespace, as the runtime would exec it. */
  execPlugin(
    plugin: Record<string, unknown>,
    command: string,
    pod: { netns: string; containerId: string; name: string; namespace?: string },
    prevResult?: unknown,
  ): { status: number; stdout: string } {
    const list = this.conflist();
    const conf = {
      cniVersion: list.cniVersion,
      name: list.name,
      ...plugin,
      ...(prevResult === undefined ? {} : { prevResult }),
    };
    const binary = plugin.type === "strait-cni" ? STRAIT_CNI : join(CNI_PATH, String(plugin.type));
    const r = spawnSync("nsenter", [`--net=/run/netns/${this.nodeNs}`, binary], {
      input: JSON.stringify(conf),
      env: this.#cniEnv(command, pod),
      encoding: "utf8",
    });
    return { status: r.status ?? -1, stdout: r.stdout };
  }

  /** Creates a pod: its namespace, then ADD through the whole chain. */
  addPod(name: string, namespace = "default"): Pod {
    const netns = `${this.id}-${name}`;
    const containerId = `${this.id}-${name}-container`;
    sh("ip", ["netns", "add", netns]);
    const pod = { netns, containerId, name, namespace };
    let result: unknown;
    for (const plugin of this.conflist().plugins) {
      const r = this.execPlugin(plugin, "ADD", pod, result);
      if (r.status !== 0) throw new Error(`${String(plugin.type)} ADD failed: ${r.stdout}`);
      result = JSON.parse(r.stdout);
    }
    const res = result as { ips: { address: string }[]; interfaces: { name: string; sandbox?: string }[] };
    const ip = (res.ips[0]?.address ?? "").split("/")[0] ?? "";
    const hostInterface = res.interfaces.find((i) => i.sandbox === undefined)?.name ?? "";
    const helper = new NsHelper(netns, name);
    this.helpers.push(helper);
    const created = { name, namespace, netns, containerId, ip, hostInterface, helper, result };
    this.pods.push(created);
    return created;
  }

  /** DEL through the chain in reverse order, as the runtime does, then the namespace. */
  deletePod(pod: Pod): void {
    const plugins = [...this.conflist().plugins].reverse();
    for (const plugin of plugins) this.execPlugin(plugin, "DEL", pod);
    spawnSync("ip", ["netns", "del", pod.netns]);
  }

  cleanup(): void {
    for (const h of this.helpers) h.stop();
    for (const p of this.pods) spawnSync("ip", ["netns", "del", p.netns]);
    for (const n of this.externals) spawnSync("ip", ["netns", "del", n]);
    spawnSync("ip", ["netns", "del", this.nodeNs]);
    rmSync(this.pinRoot, { recursive: true, force: true });
    rmSync(this.dir, { recursive: true, force: true });
  }
}
