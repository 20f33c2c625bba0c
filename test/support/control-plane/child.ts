/**
 * One process of the control plane: spawned with its output in a log file,
 * stopped with SIGTERM and, after a grace period, SIGKILL. Every child still
 * running when the test process exits is killed, so a failed or interrupted
 * test leaves no etcd or API server behind.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

const running = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of running) child.kill("SIGKILL");
});

export class Child {
  readonly name: string;
  readonly logFile: string;
  readonly #child: ChildProcess;
  readonly exited: Promise<number | null>;

  constructor(
    name: string,
    command: string,
    args: readonly string[],
    logFile: string,
    env?: NodeJS.ProcessEnv,
  ) {
    this.name = name;
    this.logFile = logFile;
    const fd = openSync(logFile, "a");
    this.#child = spawn(command, args, { stdio: ["ignore", fd, fd], env: env ?? process.env });
    closeSync(fd);
    running.add(this.#child);
    this.exited = new Promise((resolve) =>
      this.#child.on("exit", (code, signal) => {
        running.delete(this.#child);
        resolve(code ?? (signal === null ? null : -1));
      }),
    );
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  get alive(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** The last lines of its log, for error messages. */
  tail(lines = 30): string {
    try {
      return readFileSync(this.logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
    } catch {
      return "";
    }
  }

  async stop(graceMs = 10_000): Promise<void> {
    if (!this.alive) return;
    this.#child.kill("SIGTERM");
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}
