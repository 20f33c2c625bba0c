/** Structured JSON logs (pino) for the long-running processes. */
import { type DestinationStream, type Logger, pino } from "pino";
import { ERROR_CODES, StraitError } from "../errors.ts";

const LEVELS = ["trace", "debug", "info", "warn", "error", "fatal", "silent"] as const;

export function createLogger(level: string, name: string, destination?: DestinationStream): Logger {
  if (!(LEVELS as readonly string[]).includes(level)) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--log-level must be one of ${LEVELS.join(", ")}, got "${level}"`,
    );
  }
  return pino(
    { name, level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 1, sync: true }),
  );
}
