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

/**
 * Writes `{ "section": [item, ...], ... }` exactly as `render(value, "json")` would, one
 * item at a time, so that a large output never exists whole in memory (items are
 * produced by the iterables as they are written). Writes go out in chunks of about 1 MiB.
 */
export function writeJsonSections(
  sections: Iterable<readonly [string, Iterable<unknown>]>,
  write: (text: string) => void,
): void {
  let buffer = "";
  const emit = (text: string) => {
    buffer += text;
    if (buffer.length >= 1 << 20) {
      write(buffer);
      buffer = "";
    }
  };
  emit("{");
  let firstSection = true;
  for (const [name, items] of sections) {
    emit(`${firstSection ? "" : ","}\n  ${JSON.stringify(name)}: [`);
    firstSection = false;
    let first = true;
    for (const item of items) {
      // Nested two lists deep, JSON.stringify indents the item as it sits in the output (4 spaces):
      // cheaper than re-indenting its text. Cut off "[\n  [\n" and "\n  ]\n]".
      const nested = JSON.stringify([[item]], null, 2);
      emit(`${first ? "" : ","}\n${nested.slice(6, -6)}`);
      first = false;
    }
    emit(first ? "]" : "\n  ]");
  }
  emit(firstSection ? "}\n" : "\n}\n");
  write(buffer);
}
