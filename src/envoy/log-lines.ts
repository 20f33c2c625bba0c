/**
 * Envoy's log lines, as the supervisor asks for them (`--log-format`), turned
 * into (level, logger, message) for strait's own log.
 */

/** The format the supervisor passes to Envoy: level, logger name, message; one line per entry. */
export const ENVOY_LOG_FORMAT = "%l|%n|%j";

export type EnvoyLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal";

export interface EnvoyLogLine {
  readonly level: EnvoyLevel;
  readonly logger: string;
  readonly message: string;
}

const LEVELS: Readonly<Record<string, EnvoyLevel>> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warning: "warn",
  warn: "warn",
  error: "error",
  critical: "fatal",
  off: "info",
};

/** A line Envoy wrote with ENVOY_LOG_FORMAT; anything else (a crash trace, a line of its own) as an error-level line. */
export function parseEnvoyLogLine(line: string): EnvoyLogLine {
  const m = /^([a-z]+)\|([^|]*)\|(.*)$/.exec(line);
  const level = m === null ? undefined : LEVELS[m[1] ?? ""];
  if (m === null || level === undefined) return { level: "error", logger: "", message: line };
  // %j escapes the message as a JSON string body.
  let message = m[3] ?? "";
  try {
    message = JSON.parse(`"${message}"`) as string;
  } catch {
    // keep it as written
  }
  return { level, logger: m[2] ?? "", message };
}
