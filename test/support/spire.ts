/**
 * Real SPIRE for tests: spire-server and spire-agent built from the pinned
 * Go module (scripts/build-spire.sh, cached outside the clone), their config
 * files written per test, each process run in a lab namespace.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AGENT_ALIAS_PATH, DELEGATE_PATH } from "../../src/auth/spire/entry-sync.ts";
import type { NodeLab } from "./netns-lab.ts";
import { REPO } from "./strait-process.ts";
import { waitForValue } from "./wait.ts";

/** Builds SPIRE when needed (a no-op when cached) and returns the folder of its binaries. */
export function spireBinDir(): string {
  return execFileSync(join(REPO, "scripts/build-spire.sh"), {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
  }).trim();
}

export class SpireProcess {
  readonly child: ChildProcess;
  readonly output: string[] = [];

  constructor(netns: string, binary: string, args: readonly string[]) {
    this.child = spawn("nsenter", [`--net=/run/netns/${netns}`, binary, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child.stdout?.on("data", (c: Buffer) => this.output.push(c.toString()));
    this.child.stderr?.on("data", (c: Buffer) => this.output.push(c.toString()));
  }

  kill(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      this.child.once("exit", () => resolve());
      this.child.kill("SIGKILL");
    });
  }
}

export function writeServerConfig(
  dir: string,
  o: { host: string; port: number; trustDomain: string },
): string {
  mkdirSync(join(dir, "data"), { recursive: true });
  const file = join(dir, "server.conf");
  writeFileSync(
    file,
    `server {
  bind_address = "${o.host}"
  bind_port = "${o.port}"
  socket_path = "${join(dir, "api.sock")}"
  trust_domain = "${o.trustDomain}"
  data_dir = "${join(dir, "data")}"
  log_level = "WARN"
  ca_ttl = "24h"
  default_x509_svid_ttl = "1h"
}
plugins {
  DataStore "sql" {
    plugin_data {
      database_type = "sqlite3"
      connection_string = "${join(dir, "data", "datastore.sqlite3")}"
    }
  }
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "memory" {
    plugin_data {}
  }
}
`,
  );
  return file;
}

export function writeAgentConfig(
  dir: string,
  o: { serverHost: string; serverPort: number; trustDomain: string; joinToken: string; delegate: string },
): { file: string; adminSocket: string; publicSocket: string } {
  mkdirSync(join(dir, "data"), { recursive: true });
  mkdirSync(join(dir, "public"), { recursive: true });
  mkdirSync(join(dir, "admin"), { recursive: true });
  const file = join(dir, "agent.conf");
  const adminSocket = join(dir, "admin", "admin.sock");
  const publicSocket = join(dir, "public", "api.sock");
  writeFileSync(
    file,
    `agent {
  data_dir = "${join(dir, "data")}"
  log_level = "WARN"
  server_address = "${o.serverHost}"
  server_port = "${o.serverPort}"
  socket_path = "${publicSocket}"
  admin_socket_path = "${adminSocket}"
  trust_domain = "${o.trustDomain}"
  insecure_bootstrap = true
  join_token = "${o.joinToken}"
  authorized_delegates = ["${o.delegate}"]
}
plugins {
  NodeAttestor "join_token" {
    plugin_data {}
  }
  KeyManager "disk" {
    plugin_data {
      directory = "${join(dir, "data")}"
    }
  }
  WorkloadAttestor "unix" {
    plugin_data {}
  }
}
`,
  );
  return { file, adminSocket, publicSocket };
}

/**
 * SPIRE's binaries, or why the tests that need them skip: scripts/build-spire.sh
 * builds them once (it needs Go and the module cache or the network) and is a
 * no-op when they are cached.
 */
export function spireBinaries(): { bin: string } | { skip: string } {
  try {
    return { bin: spireBinDir() };
  } catch (error) {
    return { skip: `needs SPIRE's binaries (scripts/build-spire.sh failed: ${(error as Error).message})` };
  }
}

/** The last lines a process printed, for a timeout's message. */
export function tail(lines: readonly unknown[], count = 15): string {
  // A process's output comes in chunks of any number of lines; log lines come parsed.
  return lines
    .flatMap((l) =>
      typeof l === "string" ? l.split("\n").filter((x) => x.trim() !== "") : [JSON.stringify(l)],
    )
    .slice(-count)
    .join("\n");
}

/** A lab node SPIRE runs on, by its Kubernetes node name. */
interface SpireNode {
  readonly name: string;
  readonly lab: NodeLab;
}

/**
 * SPIRE laid out for strait on lab nodes, as a cluster runs it: spire-server
 * in the first node's namespace (join_token node attestation; its API socket
 * is what strait's controller keeps the registration entries through), and a
 * spire-agent per node, joined with a token as `spiffe://<td>/strait-agent`
 * (the parent of strait's entries) and authorizing strait's delegate
 * (`spiffe://<td>/strait-delegate`, the entry the controller keeps for the
 * selectors it is given) on its admin socket.
 */
export class SpireNodes {
  readonly serverSocket: string;
  readonly #bin: string;
  readonly #server: { readonly lab: NodeLab; readonly host: string; readonly port: number };
  readonly #nodes: readonly SpireNode[];
  readonly #trustDomain: string;
  #serverProcess: SpireProcess | undefined;
  readonly #agents = new Map<string, { conf: ReturnType<typeof writeAgentConfig>; process: SpireProcess }>();

  constructor(
    bin: string,
    server: { readonly lab: NodeLab; readonly host: string; readonly port: number },
    nodes: readonly SpireNode[],
    trustDomain: string,
  ) {
    this.#bin = bin;
    this.#server = server;
    this.#nodes = nodes;
    this.#trustDomain = trustDomain;
    this.serverSocket = join(server.lab.dir, "spire-server", "api.sock");
  }

  /** Until the server and every node's agent pass their health checks. */
  async start(): Promise<void> {
    const dir = join(this.#server.lab.dir, "spire-server");
    const conf = writeServerConfig(dir, {
      host: this.#server.host,
      port: this.#server.port,
      trustDomain: this.#trustDomain,
    });
    const server = new SpireProcess(this.#server.lab.nodeNs, join(this.#bin, "spire-server"), [
      "run",
      "-config",
      conf,
    ]);
    this.#serverProcess = server;
    await healthy(`spire-server`, server, () =>
      execFileSync(join(this.#bin, "spire-server"), ["healthcheck", "-socketPath", this.serverSocket], {
        stdio: "ignore",
      }),
    );
    for (const node of this.#nodes) {
      const token = execFileSync(
        join(this.#bin, "spire-server"),
        [
          "token",
          "generate",
          "-socketPath",
          this.serverSocket,
          "-spiffeID",
          `spiffe://${this.#trustDomain}${AGENT_ALIAS_PATH}`,
        ],
        { encoding: "utf8" },
      )
        .replace(/^Token:\s*/, "")
        .trim();
      const agentConf = writeAgentConfig(join(node.lab.dir, "spire-agent"), {
        serverHost: this.#server.host,
        serverPort: this.#server.port,
        trustDomain: this.#trustDomain,
        joinToken: token,
        delegate: `spiffe://${this.#trustDomain}${DELEGATE_PATH}`,
      });
      const agent = new SpireProcess(node.lab.nodeNs, join(this.#bin, "spire-agent"), [
        "run",
        "-config",
        agentConf.file,
      ]);
      this.#agents.set(node.name, { conf: agentConf, process: agent });
    }
    for (const node of this.#nodes) {
      const agent = this.#agents.get(node.name);
      if (agent === undefined) continue;
      await healthy(`spire-agent on ${node.name}`, agent.process, () =>
        agentHealthcheck(this.#bin, node.lab, agent.conf.publicSocket),
      );
    }
  }

  /** The admin socket (Delegated Identity API) of the node's spire-agent: strait's agent's --spire-admin-socket. */
  adminSocket(node: string): string {
    const agent = this.#agents.get(node);
    if (agent === undefined) throw new Error(`no spire-agent on ${node}`);
    return agent.conf.adminSocket;
  }

  /** Kills the node's spire-agent (SIGKILL, as a crash). */
  async killAgent(node: string): Promise<void> {
    await this.#agents.get(node)?.process.kill();
  }

  /** The node's spire-agent again, with its data folder (it rejoins with the SVID it holds), until healthy. */
  async restartAgent(node: string): Promise<void> {
    const agent = this.#agents.get(node);
    const lab = this.#nodes.find((n) => n.name === node)?.lab;
    if (agent === undefined || lab === undefined) throw new Error(`no spire-agent on ${node}`);
    const process = new SpireProcess(lab.nodeNs, join(this.#bin, "spire-agent"), [
      "run",
      "-config",
      agent.conf.file,
    ]);
    this.#agents.set(node, { conf: agent.conf, process });
    await healthy(`spire-agent on ${node}`, process, () =>
      agentHealthcheck(this.#bin, lab, agent.conf.publicSocket),
    );
  }

  /** What the server and each agent printed last. */
  tails(): string {
    return [
      `--- spire-server\n${tail(this.#serverProcess?.output ?? [])}`,
      ...[...this.#agents].map(([name, a]) => `--- spire-agent on ${name}\n${tail(a.process.output)}`),
    ].join("\n");
  }

  async stop(): Promise<void> {
    for (const a of this.#agents.values()) await a.process.kill();
    await this.#serverProcess?.kill();
  }
}

/** spire-agent's health check in the node's namespace (throws until it is up; its complaints are not printed). */
function agentHealthcheck(bin: string, lab: NodeLab, socket: string): void {
  execFileSync(
    "nsenter",
    [`--net=/run/netns/${lab.nodeNs}`, join(bin, "spire-agent"), "healthcheck", "-socketPath", socket],
    { stdio: "ignore" },
  );
}

/** Polls `check` (which throws until the process is up) for 30 s; a timeout quotes the process's output. */
async function healthy(what: string, p: SpireProcess, check: () => unknown): Promise<void> {
  await waitForValue(
    `${what} healthy`,
    async () => {
      if (p.child.exitCode !== null) throw new Error(`${what} exited: ${tail(p.output)}`);
      try {
        check();
        return true;
      } catch {
        return undefined;
      }
    },
    30_000,
  ).catch((error: Error) => {
    throw new Error(`${error.message}\n${tail(p.output)}`);
  });
}
