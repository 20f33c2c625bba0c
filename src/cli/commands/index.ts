/** Every `strait` subcommand, in the order `strait --help` lists them. */
import type { Command } from "../command.ts";
import { proxyStatusCommand } from "./proxy-status.ts";
import { runCommand } from "./run.ts";
import { simulateCommand } from "./simulate.ts";
import { statusCommand } from "./status.ts";
import { translateCommand } from "./translate.ts";
import { versionCommand } from "./version.ts";

export const COMMANDS: readonly Command[] = [
  runCommand,
  translateCommand,
  statusCommand,
  simulateCommand,
  proxyStatusCommand,
  versionCommand,
];
