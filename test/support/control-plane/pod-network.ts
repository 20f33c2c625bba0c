/**
 * Pod networking of the node stand-in, the way a point-to-point CNI plugin
 * wires it: each pod gets a network namespace and a veth pair, its address as
 * a /32 on the pod's eth0 with a default route to a gateway address that sits
 * on every host-side veth, and the host a /32 route to the pod through that
 * veth. The host (where Envoy and the tests run) reaches every pod directly;
 * nothing is forwarded or NATed.
 *
 * Names carry the prefix `stcp` and a per-run id, and each run records its pid
 * in /run/strait-stcp/ (with an exclusive claim on its /24), so concurrent runs
 * (CI and a developer on one machine, or two test files) never touch each
 * other's pods, and a run's leftovers (after a crash) are removed by the next
 * run once its pid is gone.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export const NETNS_PREFIX = "stcp";
const RUN_DIR = "/run/strait-stcp";
/** A run's claim on its /24: `subnet-N` holding its pid, created exclusively so two runs never share one. */
const SUBNET_FILE = "subnet-";

function ip(args: readonly string[]): void {
  execFileSync("ip", [...args], { stdio: ["ignore", "ignore", "pipe"] });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Removes the namespaces, links and routes of earlier runs whose process is gone. */
export function sweepDeadRuns(): void {
  let runs: string[];
  try {
    runs = readdirSync(RUN_DIR);
  } catch {
    return;
  }
  const netns = (spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout ?? "").split("\n");
  for (const file of runs) {
    const pid = Number(readFileSync(join(RUN_DIR, file), "utf8").trim());
    if (alive(pid)) continue;
    if (file.startsWith(SUBNET_FILE)) {
      rmSync(join(RUN_DIR, file), { force: true });
      continue;
    }
    const id = file;
    for (const line of netns) {
      const name = line.split(" ")[0] ?? "";
      if (name.startsWith(`${NETNS_PREFIX}-${id}-`)) spawnSync("ip", ["netns", "del", name]);
    }
    // Deleting a namespace deletes its veth end and so the pair; the routes go with the link.
    rmSync(join(RUN_DIR, file), { force: true });
  }
}

function claimSubnet(subnet: number): boolean {
  try {
    writeFileSync(join(RUN_DIR, `${SUBNET_FILE}${subnet}`), String(process.pid), { flag: "wx" });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return false;
    throw error;
  }
}

/** Subnets (third octet of 10.213.X.0/24) that host routes already use. */
function usedSubnets(): Set<number> {
  const routes = spawnSync("ip", ["-4", "route", "show", "10.213.0.0/16", "root", "10.213.0.0/16"], {
    encoding: "utf8",
  }).stdout;
  const used = new Set<number>();
  for (const m of (routes ?? "").matchAll(/10\.213\.(\d+)\./g)) used.add(Number(m[1]));
  return used;
}

export interface PodInterface {
  readonly netns: string;
  readonly hostVeth: string;
  readonly ip: string;
}

/** One run's pod network: a /24 of 10.213.0.0/16 nobody on the host uses, and its names. */
export class PodNetwork {
  readonly id = randomBytes(2).toString("hex");
  readonly subnet: number;
  readonly gateway: string;
  readonly #free: number[] = [];
  readonly #used = new Map<string, PodInterface>();
  #next = 0;

  constructor() {
    sweepDeadRuns();
    mkdirSync(RUN_DIR, { recursive: true });
    writeFileSync(join(RUN_DIR, this.id), String(process.pid));
    const used = usedSubnets();
    const candidates = Array.from({ length: 254 }, (_, i) => i + 1).filter((s) => !used.has(s));
    // Random order, and the first that this run manages to claim: concurrent runs that read
    // the routes at the same moment still end up on different /24s.
    candidates.sort(() => Math.random() - 0.5);
    const pick = candidates.find((s) => claimSubnet(s));
    if (pick === undefined) throw new Error("no free /24 in 10.213.0.0/16 for pod addresses");
    this.subnet = pick;
    this.gateway = `10.213.${pick}.1`;
    for (let host = 2; host < 255; host++) this.#free.push(host);
  }

  /** Creates the namespace and veth pair of a pod and gives it the next free address. */
  add(key: string): PodInterface {
    const host = this.#free.shift();
    if (host === undefined) throw new Error("no pod address left in the node's /24");
    const n = (this.#next++).toString(36);
    const netns = `${NETNS_PREFIX}-${this.id}-${n}`;
    const hostVeth = `${NETNS_PREFIX}${this.id}${n}`;
    const address = `10.213.${this.subnet}.${host}`;
    try {
      ip(["netns", "add", netns]);
      ip(["link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", netns]);
      ip(["-n", netns, "link", "set", "lo", "up"]);
      ip(["-n", netns, "addr", "add", `${address}/32`, "dev", "eth0"]);
      ip(["-n", netns, "link", "set", "eth0", "up"]);
      ip(["addr", "add", `${this.gateway}/32`, "dev", hostVeth]);
      ip(["link", "set", hostVeth, "up"]);
      ip(["-n", netns, "route", "add", this.gateway, "dev", "eth0", "scope", "link"]);
      ip(["-n", netns, "route", "add", "default", "via", this.gateway, "dev", "eth0"]);
      ip(["route", "add", `${address}/32`, "dev", hostVeth, "src", this.gateway]);
    } catch (error) {
      spawnSync("ip", ["netns", "del", netns]);
      this.#free.push(host);
      throw error;
    }
    const pod = { netns, hostVeth, ip: address };
    this.#used.set(key, pod);
    return pod;
  }

  remove(key: string): void {
    const pod = this.#used.get(key);
    if (pod === undefined) return;
    this.#used.delete(key);
    spawnSync("ip", ["netns", "del", pod.netns]);
    spawnSync("ip", ["link", "del", pod.hostVeth]);
    this.#free.push(Number(pod.ip.split(".")[3]));
  }

  close(): void {
    for (const key of [...this.#used.keys()]) this.remove(key);
    rmSync(join(RUN_DIR, this.id), { force: true });
    rmSync(join(RUN_DIR, `${SUBNET_FILE}${this.subnet}`), { force: true });
  }
}
