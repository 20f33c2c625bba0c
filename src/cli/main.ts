/**
 * `strait`: the command line. Dispatches to one subcommand; exit code 0 on
 * success, 1 when the input had errors, 2 on usage errors.
 */
import { enableCompileCache } from "node:module";
import { StraitError } from "../errors.ts";
import { type CommandIO, EXIT, UsageError } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";

function topHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return `strait: a sidecarless service mesh and Gateway API controller for Kubernetes

Usage: strait <command> [flags]

Commands:
${COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

Run "strait <command> --help" for a command's flags and examples.
`;
}

export async function main(argv: readonly string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    const target = name === "help" ? COMMANDS.find((c) => c.name === rest[0]) : undefined;
    io.stdout(target === undefined ? topHelp() : `${(await target.load()).help}\n`);
    return name === undefined ? EXIT.USAGE : EXIT.OK;
  }
  if (name === "--version") return main(["version"], io);
  const entry = COMMANDS.find((c) => c.name === name);
  if (entry === undefined) {
    io.stderr(`strait: unknown command "${name}"\n\n${topHelp()}`);
    return EXIT.USAGE;
  }
  const command = await entry.load();
  if (rest.includes("--help") || rest.includes("-h")) {
    io.stdout(`${command.help}\n`);
    return EXIT.OK;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`strait ${command.name}: ${error.message}\nRun "strait ${command.name} --help" for usage.\n`);
      return EXIT.USAGE;
    }
    if (error instanceof StraitError) {
      const cause = error.cause instanceof Error ? `: ${error.cause.message}` : "";
      io.stderr(`strait ${command.name}: ${error.message}${cause} [${error.code}]\n`);
      return EXIT.INPUT_ERRORS;
    }
    throw error;
  }
}

if (import.meta.main) {
  // V8's code cache on disk (os.tmpdir()/node-compile-cache, keyed by content): the bundled
  // commands' chunks are compiled once, not on every start.
  enableCompileCache();
  const io: CommandIO = {
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    env: process.env,
  };
  main(process.argv.slice(2), io).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.stderr.write(
        `strait: internal error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exitCode = 70;
    },
  );
}
