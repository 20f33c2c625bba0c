/**
 * Output of the commands in the format `-o` asked for. Apart from command.ts so
 * that what every command loads (main.ts, `strait version`) does not load the
 * YAML library.
 */
import { stringify } from "yaml";
import type { OutputFormat } from "./command.ts";

export function render(value: unknown, format: OutputFormat): string {
  return format === "json"
    ? `${JSON.stringify(value, null, 2)}\n`
    : stringify(value, { lineWidth: 0, aliasDuplicateObjects: false });
}
