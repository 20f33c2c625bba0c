/**
 * Parsing of manifest files off the main thread: one worker thread (two cores
 * is the size strait is tested on, and a file parse is one long task, so more
 * workers would only compete with the main thread), started at the first
 * request and ended by `close()`. Requests are answered in the order sent.
 *
 * `close()` answers what is still pending with empty sets (its caller is
 * stopping). If the worker cannot start or dies, the pending and later files are parsed
 * on the main thread instead: slower for the event loop, never a lost file.
 */
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { Logger } from "pino";
import {
  PARSE_WORKER_ROLE,
  type ParseReply,
  type ParseRequest,
  parseFileForWorker,
} from "./manifest-parse-worker.ts";
import type { ManifestSet } from "./manifests.ts";

/** The worker's entry (bin/strait's bundle rewrites import.meta.dirname to this source folder). */
const WORKER_ENTRY = join(import.meta.dirname, "manifest-parse-worker.ts");

interface Pending {
  readonly request: ParseRequest;
  readonly resolve: (set: ManifestSet) => void;
}

export class ManifestParser {
  readonly #logger: Logger | undefined;
  #worker: Worker | undefined;
  #broken = false;
  #nextId = 1;
  readonly #pending = new Map<number, Pending>();

  constructor(logger?: Logger) {
    this.#logger = logger;
  }

  /** Reads and parses `file` in the worker; resolves with what the main thread would have produced. */
  parse(file: string, options: Omit<ParseRequest, "id" | "file"> = {}): Promise<ManifestSet> {
    const request: ParseRequest = { ...options, id: this.#nextId++, file };
    const worker = this.#ensureWorker();
    if (worker === undefined) return Promise.resolve(parseFileForWorker(request));
    return new Promise((resolve) => {
      this.#pending.set(request.id, { request, resolve });
      worker.ref(); // keep the process alive while a parse is owed
      worker.postMessage(request);
    });
  }

  async close(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    this.#broken = true; // no new worker after close; late requests parse inline
    // Whoever waits is stopping (FileSource.stop): an empty answer, not a parse on the main thread.
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.resolve({ objects: [], ignored: [], diagnostics: [] });
    if (worker !== undefined) await worker.terminate();
  }

  #ensureWorker(): Worker | undefined {
    if (this.#worker !== undefined || this.#broken) return this.#worker;
    try {
      const worker = new Worker(WORKER_ENTRY, { workerData: { role: PARSE_WORKER_ROLE } });
      worker.on("message", (reply: ParseReply) => {
        const pending = this.#pending.get(reply.id);
        if (pending === undefined) return;
        this.#pending.delete(reply.id);
        if (this.#pending.size === 0) worker.unref();
        pending.resolve(reply.set);
      });
      worker.on("error", (error) => {
        this.#logger?.warn({ err: error }, "manifest parse worker failed; parsing on the main thread");
      });
      worker.on("exit", () => {
        if (this.#worker === worker) {
          this.#worker = undefined;
          this.#broken = true;
          this.#failPending();
        }
      });
      worker.unref();
      this.#worker = worker;
      return worker;
    } catch (error) {
      this.#logger?.warn(
        { err: error },
        "cannot start the manifest parse worker; parsing on the main thread",
      );
      this.#broken = true;
      return undefined;
    }
  }

  /** Pending files of a worker that is gone: parsed here, so a scan still gets every file. */
  #failPending(): void {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const p of pending) p.resolve(parseFileForWorker(p.request));
  }
}
