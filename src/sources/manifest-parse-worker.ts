/**
 * The worker thread that reads and parses large manifest files for the file
 * source (see ManifestParser), so a file of tens of megabytes does not hold the
 * controller's event loop (its /healthz, xDS, status writes) for seconds. It
 * runs the very functions the main thread runs, so errors, limits (file and
 * document size, nesting depth) and results are the same.
 *
 * Schemas from CRD files (`--crds`) cannot cross threads as functions, so a
 * request names the CRD files and each thread compiles them once
 * (`crdCheckFor`): the main thread at start, which also reports a bad file
 * there, and the worker at its first request.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type ManifestSet, type ParseOptions, parseManifestFile } from "./manifests.ts";
import { crdSchemaCheck, type SchemaCheck } from "./schema.ts";

/** The workerData that marks a thread as this worker (this module is also imported by the main thread). */
export const PARSE_WORKER_ROLE = "strait-manifest-parser";

/** What the main thread asks: one file, with the options that can cross threads. */
export interface ParseRequest {
  readonly id: number;
  readonly file: string;
  readonly defaultNamespace?: string;
  /** CRD files whose schemas check the objects (`--crds`), instead of the packaged ones. */
  readonly crds?: readonly string[];
}

export interface ParseReply {
  readonly id: number;
  readonly set: ManifestSet;
}

/** Compiled CRD schemas of this thread, by their file list (compiling takes a while; the list never changes). */
const CRD_CHECKS = new Map<string, SchemaCheck>();

/** The schema check of these CRD files, compiled once per thread; throws a StraitError for a bad file. */
export function crdCheckFor(crds: readonly string[]): SchemaCheck {
  const key = JSON.stringify(crds);
  let check = CRD_CHECKS.get(key);
  if (check === undefined) {
    check = crdSchemaCheck(crds);
    CRD_CHECKS.set(key, check);
  }
  return check;
}

/** The parse options a request stands for. */
export function parseOptionsOf(request: Omit<ParseRequest, "id" | "file">): ParseOptions {
  return {
    ...(request.defaultNamespace === undefined ? {} : { defaultNamespace: request.defaultNamespace }),
    ...(request.crds === undefined || request.crds.length === 0 ? {} : { check: crdCheckFor(request.crds) }),
  };
}

/** The same as the main thread's file parse, errors included. */
export function parseFileForWorker(request: ParseRequest): ManifestSet {
  return parseManifestFile(request.file, parseOptionsOf(request));
}

const port = parentPort;
if (port !== null && (workerData as { role?: unknown } | null)?.role === PARSE_WORKER_ROLE) {
  port.on("message", (request: ParseRequest) => {
    const reply: ParseReply = { id: request.id, set: parseFileForWorker(request) };
    port.postMessage(reply);
  });
}
