/** A pino logger whose JSON lines tests can read. */
import { Writable } from "node:stream";
import { type Logger, pino } from "pino";

export interface CapturedLine {
  readonly level: number;
  readonly msg: string;
  readonly [field: string]: unknown;
}

export function captureLogger(level = "debug"): { logger: Logger; lines: CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString("utf8").split("\n")) {
        if (line !== "") lines.push(JSON.parse(line) as CapturedLine);
      }
      callback();
    },
  });
  return { logger: pino({ level }, stream), lines };
}
