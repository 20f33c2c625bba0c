/** A child process in a network namespace whose stdout is JSON lines (an issuer, a capture, a rogue peer). */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { waitForValue } from "./wait.ts";

export class JsonChild {
  readonly child: ChildProcess;
  readonly lines: Record<string, unknown>[] = [];
  readonly stderr: string[] = [];

  constructor(netns: string, args: readonly string[], stdin: "ignore" | "pipe" = "ignore") {
    this.child = spawn("nsenter", [`--net=/run/netns/${netns}`, ...args], { stdio: [stdin, "pipe", "pipe"] });
    createInterface({ input: this.child.stdout as NodeJS.ReadableStream }).on("line", (l) => {
      try {
        this.lines.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not JSON
      }
    });
    createInterface({ input: this.child.stderr as NodeJS.ReadableStream }).on("line", (l) =>
      this.stderr.push(l),
    );
  }

  line(match: (l: Record<string, unknown>) => boolean, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    return waitForValue(
      `a line from ${this.child.spawnargs.join(" ")} (stderr: ${this.stderr.join("\n")})`,
      async () => this.lines.find(match),
      timeoutMs,
    );
  }

  stop(): void {
    this.child.kill("SIGKILL");
  }
}
