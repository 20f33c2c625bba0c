/**
 * Real SPIRE for tests: spire-server and spire-agent built from the pinned
 * Go module (scripts/build-spire.sh, cached outside the clone), their config
 * files written per test, each process run in a lab namespace.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./strait-process.ts";

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
