/**
 * A supervised Envoy: strait starts it with a bootstrap pointing at its own
 * xDS server, forwards its log lines into strait's log at their level,
 * restarts it with back-off when it dies, and stops it on shutdown, the way
 * Envoy Gateway's host mode runs its proxies.
 *
 * - `--disable-hot-restart`: several Envoys (tests, the conformance runner, a
 *   user's own) share one host without fighting over the shared-memory
 *   region that hot restart needs.
 * - The admin interface listens on loopback; with port 0 Envoy picks one and
 *   writes it to `--admin-address-path`, which is how the supervisor learns it.
 * - On Linux the child is started through `setpriv --pdeathsig TERM`, which
 *   execs Envoy in the same process with the parent-death signal set: if
 *   strait is killed outright, its Envoy does not linger holding the
 *   Gateways' ports.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import type { Logger } from "pino";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { type EnvoyAdmin, envoyAdmin } from "./admin.ts";
import { type BootstrapOptions, envoyBootstrap } from "./bootstrap.ts";
import { ENVOY_LOG_FORMAT, parseEnvoyLogLine } from "./log-lines.ts";

export interface ManagedEnvoyOptions {
  readonly binary: string;
  readonly bootstrap: BootstrapOptions;
  readonly logger: Logger;
  /** Envoy's own log level (`-l`); its lines then pass through strait's level too. Default `info`. */
  readonly logLevel?: string;
  /** Worker threads (`--concurrency`); default 2. */
  readonly concurrency?: number;
  /** First restart delay; it doubles up to `maxRestartDelayMs` and resets after a minute of running. */
  readonly restartDelayMs?: number;
  readonly maxRestartDelayMs?: number;
  /** More command-line arguments, after strait's own. */
  readonly extraArgs?: readonly string[];
  /** A command Envoy runs under, e.g. `nsenter --net=/run/netns/X` for a node in a network namespace. */
  readonly commandPrefix?: readonly string[];
}

const SETPRIV = "/usr/bin/setpriv";
const STEADY_MS = 60_000;

export class ManagedEnvoy {
  readonly #options: ManagedEnvoyOptions;
  readonly #logger: Logger;
  readonly #dir: string;
  #child: ChildProcess | undefined;
  #adminAddress: string | undefined;
  #stopping = false;
  #restarts = 0;
  #delayMs: number;
  #restartTimer: NodeJS.Timeout | undefined;
  #startedAt = 0;
  #exited: Promise<void> = Promise.resolve();

  constructor(options: ManagedEnvoyOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: "envoy" });
    this.#dir = mkdtempSync(join(tmpdir(), "strait-envoy-"));
    this.#delayMs = options.restartDelayMs ?? 1000;
    writeFileSync(
      join(this.#dir, "bootstrap.json"),
      JSON.stringify(envoyBootstrap(options.bootstrap), null, 2),
    );
  }

  /** The node id this Envoy announces to the xDS server. */
  get nodeId(): string {
    return this.#options.bootstrap.nodeId;
  }

  /** The bound admin `host:port` of the running Envoy (it may change across restarts when the port is 0). */
  get adminAddress(): string | undefined {
    return this.#adminAddress;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  admin(): EnvoyAdmin {
    if (this.#adminAddress === undefined)
      throw new StraitError(ERROR_CODES.INTERNAL, "the managed Envoy has no admin address yet");
    return envoyAdmin(this.#adminAddress);
  }

  /** Starts Envoy; resolves once its admin interface is listening. */
  async start(timeoutMs = 30_000): Promise<void> {
    this.#stopping = false;
    this.#spawn();
    await this.#waitForAdmin(timeoutMs);
  }

  /** Resolves once `/ready` says LIVE (Envoy applied its first listeners and clusters). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last = "no admin address";
    while (Date.now() < deadline) {
      if (this.#adminAddress !== undefined) {
        try {
          const r = await this.admin().ready();
          if (r.status === 200) return;
          last = `${r.status} ${r.state}`;
        } catch (error) {
          last = (error as Error).message;
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new StraitError(ERROR_CODES.NETWORK, `Envoy not ready after ${timeoutMs} ms (${last})`);
  }

  /** Stops Envoy (SIGTERM, then SIGKILL after `graceMs`) and removes its working files. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    if (this.#restartTimer !== undefined) clearTimeout(this.#restartTimer);
    const child = this.#child;
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const kill = setTimeout(() => child.kill("SIGKILL"), graceMs);
      child.kill("SIGTERM");
      await this.#exited;
      clearTimeout(kill);
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }

  #args(): string[] {
    return [
      "-c",
      join(this.#dir, "bootstrap.json"),
      "--disable-hot-restart",
      "--admin-address-path",
      join(this.#dir, "admin-address"),
      "--log-format",
      ENVOY_LOG_FORMAT,
      "-l",
      this.#options.logLevel ?? "info",
      "--concurrency",
      String(this.#options.concurrency ?? 2),
      ...(this.#options.extraArgs ?? []),
    ];
  }

  #spawn(): void {
    rmSync(join(this.#dir, "admin-address"), { force: true });
    this.#adminAddress = undefined;
    const usePdeathsig = process.platform === "linux" && existsSync(SETPRIV);
    const [inner, innerArgs] = usePdeathsig
      ? [SETPRIV, ["--pdeathsig", "TERM", "--", this.#options.binary, ...this.#args()]]
      : [this.#options.binary, this.#args()];
    const prefix = this.#options.commandPrefix ?? [];
    const [command, args] =
      prefix.length === 0
        ? [inner, innerArgs]
        : [prefix[0] as string, [...prefix.slice(1), inner, ...innerArgs]];
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    this.#child = child;
    this.#startedAt = Date.now();
    for (const stream of [child.stdout, child.stderr]) {
      createInterface({ input: stream }).on("line", (line) => this.#forward(line));
    }
    this.#exited = new Promise((resolve) => {
      child.on("error", (cause) => {
        this.#logger.error({ err: cause, binary: this.#options.binary }, "Envoy could not be started");
        resolve();
      });
      child.on("exit", (code, signal) => {
        resolve();
        if (this.#stopping) {
          this.#logger.info({ code, signal }, "Envoy stopped");
          return;
        }
        this.#scheduleRestart(code, signal);
      });
    });
    this.#logger.info({ pid: child.pid, binary: this.#options.binary, node: this.nodeId }, "Envoy started");
  }

  #scheduleRestart(code: number | null, signal: NodeJS.Signals | null): void {
    if (Date.now() - this.#startedAt > STEADY_MS) this.#delayMs = this.#options.restartDelayMs ?? 1000;
    const delay = this.#delayMs;
    this.#delayMs = Math.min(delay * 2, this.#options.maxRestartDelayMs ?? 30_000);
    this.#logger.error({ code, signal, restartInMs: delay }, "Envoy exited; restarting");
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#stopping) return;
      this.#restarts++;
      this.#spawn();
      this.#waitForAdmin(30_000).catch((error: unknown) =>
        this.#logger.error({ err: error }, "restarted Envoy did not open its admin interface"),
      );
    }, delay);
  }

  #forward(line: string): void {
    if (line.trim() === "") return;
    const entry = parseEnvoyLogLine(line);
    // At start Envoy lists its ~70 extension categories at info, one line each: detail, not news.
    const listing =
      entry.logger === "main" &&
      (entry.message.startsWith("  ") || entry.message === "statically linked extensions:");
    this.#logger[listing && entry.level === "info" ? "debug" : entry.level](
      { envoyLogger: entry.logger },
      entry.message,
    );
  }

  async #waitForAdmin(timeoutMs: number): Promise<void> {
    const file = join(this.#dir, "admin-address");
    const deadline = Date.now() + timeoutMs;
    const child = this.#child;
    while (Date.now() < deadline) {
      if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
        throw new StraitError(
          ERROR_CODES.NETWORK,
          `Envoy exited (${child.exitCode ?? child.signalCode}) before its admin interface listened; its log lines above say why`,
        );
      }
      if (existsSync(file)) {
        const text = readFileSync(file, "utf8").trim();
        if (text !== "") {
          this.#adminAddress = text;
          return;
        }
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new StraitError(
      ERROR_CODES.NETWORK,
      `Envoy's admin interface did not listen within ${timeoutMs} ms`,
    );
  }
}
