/**
 * A DesiredStateSource that reads a JSON or YAML file and follows its
 * changes (polling its mtime, which also works on files replaced by rename).
 */
import { readFileSync, statSync, unwatchFile, watchFile } from "node:fs";
import { parse } from "yaml";
import { messageOf } from "../errors.ts";
import type { DesiredStateSink, DesiredStateSource, RejectSink } from "./desired-state.ts";
import { validateDesiredState } from "./validate.ts";

export class FileDesiredStateSource implements DesiredStateSource {
  readonly name: string;
  readonly #path: string;
  readonly #intervalMs: number;

  constructor(path: string, intervalMs = 500) {
    this.#path = path;
    this.#intervalMs = intervalMs;
    this.name = `file:${path}`;
  }

  async start(accept: DesiredStateSink, reject: RejectSink): Promise<void> {
    const load = () => {
      let input: unknown;
      try {
        input = parse(readFileSync(this.#path, "utf8"));
      } catch (error) {
        reject([{ field: "(file)", message: messageOf(error) }], this.name);
        return;
      }
      const parsed = validateDesiredState(input);
      if (parsed.ok) void accept(parsed.value, this.name);
      else reject(parsed.error, this.name);
    };
    try {
      statSync(this.#path);
      load();
    } catch {
      reject([{ field: "(file)", message: `${this.#path} does not exist (yet)` }], this.name);
    }
    watchFile(this.#path, { interval: this.#intervalMs }, (now, before) => {
      if (now.mtimeMs !== before.mtimeMs && now.mtimeMs !== 0) load();
    });
  }

  async stop(): Promise<void> {
    unwatchFile(this.#path);
  }
}
