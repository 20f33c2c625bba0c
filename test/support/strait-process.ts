/**
 * Starts `bin/strait` as a child process (the real CLI on the project's Node)
 * and follows its JSON log lines, for end-to-end tests.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";

export const REPO = join(import.meta.dirname, "../..");
export const STRAIT_BIN = join(REPO, "bin/strait");

/**
 * The arguments of a test's `strait run -f dir`: free ports only (the
 * operations server on 127.0.0.1:0, xDS on `xdsAddress`, a free port unless
 * given) and no managed Envoy, or with `managedEnvoy` one whose admin
 * listens on a free port; `extra` flags after them.
 */
export function runArgs(
  dir: string,
  options: {
    readonly xdsAddress?: string;
    readonly managedEnvoy?: boolean;
    readonly extra?: readonly string[];
  } = {},
): string[] {
  return [
    "run",
    "-f",
    dir,
    "--http-address",
    "127.0.0.1:0",
    ...(options.xdsAddress === undefined
      ? ["--xds-address", "127.0.0.1:0"]
      : ["--xds-address", options.xdsAddress]),
    ...(options.managedEnvoy === true ? ["--envoy-admin-address", "127.0.0.1:0"] : ["--envoy", "none"]),
    ...(options.extra ?? []),
  ];
}

export interface LogLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export class StraitProcess {
  readonly child: ChildProcess;
  readonly logs: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly #waiters: { match: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  readonly exited: Promise<number | null>;

  /** `wrapper` runs the CLI under another command, e.g. `nsenter --net=/run/netns/X`. */
  constructor(args: readonly string[], env: NodeJS.ProcessEnv = {}, wrapper: readonly string[] = []) {
    const [command = STRAIT_BIN, ...prefix] = [...wrapper, STRAIT_BIN];
    this.child = spawn(command, [...prefix, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.exited = new Promise((resolve) => this.child.on("exit", (code) => resolve(code)));
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(line) as LogLine;
      } catch {
        parsed = { level: 0, msg: line };
      }
      this.logs.push(parsed);
      for (const w of [...this.#waiters]) {
        if (w.match(parsed)) {
          this.#waiters.splice(this.#waiters.indexOf(w), 1);
          w.resolve(parsed);
        }
      }
    });
    createInterface({ input: this.child.stderr as NodeJS.ReadableStream }).on("line", (l) =>
      this.stderr.push(l),
    );
  }

  /** Resolves with the first log line (past or future) that matches. */
  waitForLog(match: (l: LogLine) => boolean, timeoutMs = 15_000): Promise<LogLine> {
    const seen = this.logs.find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`log line not seen in ${timeoutMs} ms; stderr: ${this.stderr.join("\n")}`)),
        timeoutMs,
      );
      this.#waiters.push({
        match,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
      });
    });
  }

  async stop(signal: NodeJS.Signals = "SIGTERM"): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill(signal);
    return this.exited;
  }
}
