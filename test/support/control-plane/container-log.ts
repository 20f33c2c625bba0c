/**
 * One container's output as the kubelet keeps it: each line with the time it
 * was written and its stream (the CRI log format, also written to a file for
 * people reading a failed run), served by the pod log endpoint.
 */
import { closeSync, openSync, writeSync } from "node:fs";

export interface LogEntry {
  readonly time: Date;
  readonly stream: "stdout" | "stderr";
  readonly line: string;
}

export class ContainerLog {
  readonly entries: LogEntry[] = [];
  #fd: number | undefined;

  constructor(file: string) {
    this.#fd = openSync(file, "a");
  }

  append(stream: LogEntry["stream"], line: string): void {
    const entry = { time: new Date(), stream, line };
    this.entries.push(entry);
    if (this.#fd !== undefined) writeSync(this.#fd, `${entry.time.toISOString()} ${stream} F ${line}\n`);
  }

  /** The lines written at or after `since` (all without it). */
  since(since: Date | undefined): readonly LogEntry[] {
    return since === undefined ? this.entries : this.entries.filter((e) => e.time >= since);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}
