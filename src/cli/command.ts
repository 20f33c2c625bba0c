/**
 * The shape every `strait` subcommand has, and the shared pieces of argument
 * handling: usage errors (exit 2), input errors (exit 1), output formats.
 */
import { type ParseArgsConfig, parseArgs } from "node:util";

export const EXIT = { OK: 0, INPUT_ERRORS: 1, USAGE: 2 } as const;

export interface CommandIO {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly env: NodeJS.ProcessEnv;
}

export interface Command {
  readonly name: string;
  /** One line for `strait --help`. */
  readonly summary: string;
  /** Full help text for `strait <name> --help`. */
  readonly help: string;
  run(args: readonly string[], io: CommandIO): Promise<number>;
}

/** A command-line mistake: printed with a pointer to `--help`, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/** parseArgs with strict checking; turns its errors into UsageErrors. */
export function parseFlags<O extends Options>(args: readonly string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: [...args], options, strict: true, allowPositionals, allowNegative: true });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/^TypeError \[[A-Z_]+\]: /, ""));
  }
}

export type OutputFormat = "yaml" | "json";

export function outputFormat(value: string | undefined): OutputFormat {
  const format = value ?? "yaml";
  if (format !== "yaml" && format !== "json")
    throw new UsageError(`-o must be yaml or json, not "${format}"`);
  return format;
}

/** The `-f PATH...` flag of the one-pass commands: at least one path. */
export function requirePaths(values: string[] | undefined, command: string): string[] {
  if (values === undefined || values.length === 0) {
    throw new UsageError(`${command} needs at least one -f PATH (a manifest file or a folder of manifests)`);
  }
  return values;
}
