/**
 * The Envoy engine's MESH mode: the mesh client Pods as a node has them, and
 * strait's datapath redirect between them and the engine's Envoy.
 *
 * In the runner's network namespace (the "node"), each mesh client Pod of the
 * cluster stand-in gets a network namespace of its own joined by a veth pair:
 * the Pod's end (eth0, the Pod's address, a default route through the node)
 * inside, the host end in the runner's namespace with strait's tc programs
 * attached (bpf/lxc.c from_endpoint / to_endpoint), as the agent attaches
 * them for a CNI ADD. The datapath's maps hold each client as an endpoint
 * (ipcache entry, no policy enforced) and the mesh services the controller
 * produced (mesh_svc: ClusterIP:port → the mesh listener's port), and the
 * node has the agent's TPROXY rules (src/datapath/tproxy.ts) for that port.
 * A request from a client Pod to a ClusterIP then goes as in a cluster:
 * Pod → veth → from_endpoint (a new flow to a mesh service: marked for the
 * proxy) → TPROXY → Envoy's mesh listener (127.0.0.1:15003, transparent; the
 * accepted socket's local address is the ClusterIP:port) → its route → the
 * echo backend.
 *
 * One difference from a node, and why: the echo backends are not Pods behind
 * veths but sockets on the runner's loopback (the Pod network is local,
 * netns.ts). Envoy's upstream connection keeps the client's address
 * (original_src), so a backend's reply is addressed to the client Pod; on a
 * node it arrives through the backend's veth, where the TPROXY rule hands it
 * to Envoy's transparent socket. A reply sent on this machine never passes
 * PREROUTING, so it is routed by its mark instead: Envoy's upstream
 * connection carries the from-proxy mark (0x0A00, SO_MARK), the echo
 * backend's accepted socket takes it over (`net.ipv4.tcp_fwmark_accept`, set
 * in the runner's own network namespace), and one policy routing rule
 * (fwmark 0x0A00/0x0F00, lookup the proxy table 2004) delivers the replies
 * locally, to the same socket. A client's own connection to a Pod's address
 * (not a mesh service, so the datapath passes it: MeshFrontend's "Send to pod
 * IP") carries no mark, and its replies go back through the client's veth.
 * (Not conntrack marks: with nft rules matching on conntrack in this
 * namespace, redirected flows, which the TPROXY rules leave untracked, were
 * reset now and then; the cause was not established.)
 *
 * Loading BPF programs and attaching them needs real CAP_BPF / CAP_NET_ADMIN,
 * so this mode needs root; `meshUnavailable()` says why it cannot run.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { Datapath } from "../../src/datapath/datapath.ts";
import { ADDON_PATH, LXC_OBJECT_PATH } from "../../src/datapath/native.ts";
import { MARK } from "../../src/datapath/reasons.ts";
import { installTproxy, PROXY_ROUTE_TABLE, removeTproxy } from "../../src/datapath/tproxy.ts";
import { MESH_PROXY_PORT, type MeshService } from "../../src/model/mesh-service.ts";
import type { TrafficRequest } from "../checks/traffic.ts";
import type { Pod } from "../cluster.ts";
import type { WireAnswer, WireTarget } from "./client.ts";
import type { MeshAnswer, MeshReply, MeshSend } from "./mesh-client.ts";

/** The runner's own nftables table: see acceptMarkRuleset. */
const ACCEPT_MARK_TABLE = "strait-conformance-accept";

/**
 * With tcp_fwmark_accept an accepted socket takes its SYN's mark; Envoy's
 * transparent sockets would take the proxy mark 0x200, and their replies to
 * the client would be routed back to the node by the proxy's rule. The proxy
 * mark has done its work once the packet is routed (PREROUTING), so it is
 * cleared on INPUT, as the node's default (no mark taken over) has it.
 */
function acceptMarkRuleset(): string {
  return [
    `table ip ${ACCEPT_MARK_TABLE} {`,
    "  chain input {",
    "    type filter hook input priority mangle; policy accept;",
    `    meta mark & 0x${MARK.MAGIC_MASK.toString(16)} == 0x${MARK.TO_PROXY.toString(16)} meta mark set 0`,
    "  }",
    "}",
    "",
  ].join("\n");
}

/** Priority of the backend-reply rule: before the main table (32766), after the proxy's own rule (9). */
const REPLY_RULE_PRIORITY = 10;
/** The node side of every client veth: the Pods' default gateway (link-local, as Calico's 169.254.1.1). */
const NODE_SIDE_ADDRESS = "169.254.42.1";
/** Identities of the client endpoints: a range of their own, above the reserved ones. */
const FIRST_CLIENT_IDENTITY = 60_000;

/**
 * Whether this process is root of the machine's own user namespace: the root
 * a user namespace maps (the runner's rerun without privilege) has uid 0 too,
 * but not the capabilities BPF needs.
 */
function realRoot(): boolean {
  if (process.getuid?.() !== 0) return false;
  try {
    const [inside, outside, count] = readFileSync("/proc/self/uid_map", "utf8").trim().split(/\s+/);
    return inside === "0" && outside === "0" && count === "4294967295";
  } catch {
    return false;
  }
}

/** Why the MESH mode cannot run here, or undefined when it can. */
export function meshUnavailable(): string | undefined {
  if (!realRoot())
    return "needs root: the mesh client Pods' traffic goes through strait's BPF datapath (loading and attaching tc programs needs real CAP_BPF and CAP_NET_ADMIN, which a user namespace does not give)";
  if (!existsSync(ADDON_PATH) || !existsSync(LXC_OBJECT_PATH))
    return `the native parts are not built (${ADDON_PATH}, ${LXC_OBJECT_PATH}): run scripts/setup.sh`;
  return undefined;
}

function sh(cmd: string, args: readonly string[]): string {
  return execFileSync(cmd, [...args], { encoding: "utf8" });
}

interface ClientPod {
  readonly pod: Pod;
  readonly netns: string;
  readonly hostInterface: string;
  readonly ifindex: number;
  readonly identity: number;
  readonly endpointId: number;
  readonly helper: ChildProcess;
  readonly waiting: Map<number, (answer: MeshReply) => void>;
}

export class MeshPods {
  readonly #datapath: Datapath;
  readonly #clients = new Map<string, ClientPod>(); // by Pod address
  readonly #prefix = `stmesh-${process.pid}`;
  #services: readonly MeshService[] = [];
  #next = 1;

  private constructor(datapath: Datapath) {
    this.#datapath = datapath;
  }

  /** Loads the datapath (unpinned: it lives as long as the run), installs TPROXY and the reply rule. */
  static async open(): Promise<MeshPods> {
    const why = meshUnavailable();
    if (why !== undefined) throw new Error(`the MESH mode cannot run: ${why}`);
    const datapath = Datapath.open({ pinRoot: null });
    await installTproxy([MESH_PROXY_PORT]);
    sh("sysctl", ["-q", "-w", "net.ipv4.tcp_fwmark_accept=1"]);
    execFileSync("nft", ["-f", "-"], { input: acceptMarkRuleset(), encoding: "utf8" });
    sh("ip", [
      "-4",
      "rule",
      "add",
      "fwmark",
      `0x${MARK.FROM_PROXY.toString(16)}/0x${MARK.MAGIC_MASK.toString(16)}`,
      "lookup",
      String(PROXY_ROUTE_TABLE),
      "priority",
      String(REPLY_RULE_PRIORITY),
    ]);
    return new MeshPods(datapath);
  }

  /** Makes a network namespace, veth and sending helper for each client Pod not seen before. */
  ensure(pods: readonly Pod[]): void {
    for (const pod of pods) {
      if (this.#clients.has(pod.ip)) continue;
      const n = this.#next++;
      const netns = `${this.#prefix}-${n}`;
      const hostInterface = `stm${process.pid % 100000}c${n}`.slice(0, 15);
      sh("ip", ["netns", "add", netns]);
      sh("ip", ["link", "add", hostInterface, "type", "veth", "peer", "name", "eth0", "netns", netns]);
      const inPod = (args: readonly string[]) => sh("ip", ["-n", netns, ...args]);
      inPod(["link", "set", "lo", "up"]);
      inPod(["addr", "add", `${pod.ip}/32`, "dev", "eth0"]);
      inPod(["link", "set", "eth0", "up"]);
      inPod(["route", "add", `${NODE_SIDE_ADDRESS}/32`, "dev", "eth0"]);
      inPod(["route", "add", "default", "via", NODE_SIDE_ADDRESS, "dev", "eth0", "onlink"]);
      sh("ip", ["addr", "add", `${NODE_SIDE_ADDRESS}/32`, "dev", hostInterface]);
      sh("ip", ["link", "set", hostInterface, "up"]);
      sh("ip", ["route", "replace", `${pod.ip}/32`, "dev", hostInterface]);
      const ifindex = (
        JSON.parse(sh("ip", ["-j", "link", "show", "dev", hostInterface])) as { ifindex: number }[]
      )[0]?.ifindex;
      if (ifindex === undefined) throw new Error(`no ifindex for ${hostInterface}`);
      const attached = this.#datapath.attach(ifindex);
      if (!attached.ok) throw new Error(`cannot attach the datapath to ${hostInterface}: ${attached.error}`);
      const helper = spawn(
        "nsenter",
        [`--net=/run/netns/${netns}`, process.execPath, join(import.meta.dirname, "mesh-client.ts")],
        { stdio: ["pipe", "pipe", "inherit"] },
      );
      const waiting = new Map<number, (answer: MeshReply) => void>();
      createInterface({ input: helper.stdout as NodeJS.ReadableStream }).on("line", (line) => {
        const { id, answer } = JSON.parse(line) as MeshAnswer;
        waiting.get(id)?.(answer);
        waiting.delete(id);
      });
      this.#clients.set(pod.ip, {
        pod,
        netns,
        hostInterface,
        ifindex,
        identity: FIRST_CLIENT_IDENTITY + n,
        endpointId: n,
        helper,
        waiting,
      });
    }
    this.#apply();
  }

  /** Programs the mesh services the controller produced (what the agent does on each MSVC update). */
  program(services: readonly MeshService[]): void {
    this.#services = services;
    this.#apply();
  }

  #apply(): void {
    const clients = [...this.#clients.values()];
    const r = this.#datapath.apply({
      endpoints: clients.map((c) => ({
        id: c.endpointId,
        identity: c.identity,
        addresses: [c.pod.ip],
        ifindex: c.ifindex,
        ingressEnforced: false,
        egressEnforced: false,
      })),
      policies: [],
      ipcache: clients.map((c) => ({ prefix: `${c.pod.ip}/32`, identity: c.identity })),
      meshServices: this.#services,
      encrypt: [],
    });
    if (!r.ok) throw new Error(`the datapath refused the mesh state: ${JSON.stringify(r.error)}`);
  }

  /** Sends one request from inside the client Pod (its helper), over a real socket from its address. */
  send(
    pod: Pod,
    target: WireTarget,
    request: TrafficRequest,
    extraHeaders: Readonly<Record<string, string>>,
  ): Promise<WireAnswer> {
    return this.#ask(
      pod,
      (id) => ({ id, target: { ...target, localAddress: pod.ip }, request, extraHeaders }),
      (answer) =>
        answer.kind === "grpc" ? { kind: "failed", reason: "a gRPC answer to a request" } : answer,
    );
  }

  /** Makes one unary gRPC call from inside the client Pod (its helper), as its HTTP requests are sent. */
  sendGrpc(
    pod: Pod,
    target: WireTarget,
    method: string,
    metadata: Readonly<Record<string, string>>,
  ): Promise<{ code: number; message: string }> {
    return this.#ask(
      pod,
      (id) => ({ id, target, grpc: { method, metadata } }),
      (answer) =>
        answer.kind === "grpc"
          ? { code: answer.code, message: answer.message }
          : { code: 14, message: answer.kind === "failed" ? answer.reason : "not a gRPC answer" },
    );
  }

  /** One message to the client Pod's helper, and its answer as `read` takes it. */
  #ask<T>(pod: Pod, message: (id: number) => MeshSend, read: (answer: MeshReply) => T): Promise<T> {
    const client = this.#clients.get(pod.ip);
    if (client === undefined)
      throw new Error(`no network namespace for the mesh client ${pod.namespace}/${pod.name}`);
    const id = this.#next++;
    return new Promise((resolve) => {
      client.waiting.set(id, (answer) => resolve(read(answer)));
      client.helper.stdin?.write(`${JSON.stringify(message(id))}\n`);
    });
  }

  /** Stops the helpers, deletes the namespaces (their veths go with them), the rules and the datapath. */
  async close(): Promise<void> {
    for (const c of this.#clients.values()) {
      c.helper.stdin?.end();
      c.helper.kill("SIGKILL");
      spawnSync("ip", ["netns", "del", c.netns]);
    }
    this.#clients.clear();
    spawnSync("ip", ["-4", "rule", "del", "priority", String(REPLY_RULE_PRIORITY)]);
    spawnSync("nft", ["delete", "table", "ip", ACCEPT_MARK_TABLE]);
    await removeTproxy();
    this.#datapath.close();
  }
}
