/**
 * The worker thread that reads and parses large manifest files for the file
 * source (see ManifestParser), so a file of tens of megabytes does not hold the
 * controller's event loop (its /healthz, xDS, status writes) for seconds. It
 * runs the very functions the main thread runs, so errors, limits (file and
 * document size, nesting depth) and results are the same.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type ManifestSet, parseManifestFile } from "./manifests.ts";

/** The workerData that marks a thread as this worker (this module is also imported by the main thread). */
export const PARSE_WORKER_ROLE = "strait-manifest-parser";

/** What the main thread asks: one file, with the options that can cross threads. */
export interface ParseRequest {
  readonly id: number;
  readonly file: string;
  readonly defaultNamespace?: string;
}

export interface ParseReply {
  readonly id: number;
  readonly set: ManifestSet;
}

/** The same as the main thread's file parse, errors included. */
export function parseFileForWorker(request: ParseRequest): ManifestSet {
  return parseManifestFile(
    request.file,
    request.defaultNamespace === undefined ? {} : { defaultNamespace: request.defaultNamespace },
  );
}

const port = parentPort;
if (port !== null && (workerData as { role?: unknown } | null)?.role === PARSE_WORKER_ROLE) {
  port.on("message", (request: ParseRequest) => {
    const reply: ParseReply = { id: request.id, set: parseFileForWorker(request) };
    port.postMessage(reply);
  });
}
