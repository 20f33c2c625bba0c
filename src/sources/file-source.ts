/**
 * The standalone source: a folder of manifests, watched. Every `*.yaml`,
 * `*.yml` and `*.json` under the folder (hidden entries excluded) is parsed
 * and schema-checked; valid objects go to the store, invalid ones are reported
 * and left out. Edits, new files and deleted files are applied as updates,
 * creates and deletes. Unchanged files are not re-parsed.
 *
 * Every scan, the first load (`start`) as the rescans after file events and
 * polls, parses files of `offThreadBytes` or more in a worker thread
 * (ManifestParser), with CRD schemas (`crds`) too, so a large manifest does
 * not stall /healthz and xDS for the seconds its parse takes, at start or later.
 */

import { randomUUID } from "node:crypto";
import { type FSWatcher, type Stats, statSync, watch } from "node:fs";
import type { Logger } from "pino";
import type { KindName } from "../resources/kinds.ts";
import type { AnyStoredObject } from "../resources/objects.ts";
import { type ParseRequest, parseOptionsOf } from "./manifest-parse-worker.ts";
import { ManifestParser } from "./manifest-parser.ts";
import {
  formatDiagnostic,
  type IgnoredObject,
  type LoadedObject,
  listManifestFiles,
  type ManifestDiagnostic,
  type ManifestSet,
  mergeObject,
  type ParseOptions,
  parseManifestFile,
} from "./manifests.ts";
import type { ResourceStore } from "./store.ts";

/** Files this large or larger are parsed in the worker (about 10 ms of parsing on the main thread). */
export const OFF_THREAD_BYTES = 256 * 1024;

const EMPTY_SET: ManifestSet = { objects: [], ignored: [], diagnostics: [] };

export interface FileSourceOptions extends ParseOptions {
  readonly logger?: Logger;
  /** Wait this long after the last file event before rescanning. */
  readonly debounceMs?: number;
  /**
   * But never longer than this after the first event of a burst: a folder
   * that keeps changing (a deploy tool writing file after file) must still
   * be read, not wait for a quiet moment that never comes.
   */
  readonly maxDelayMs?: number;
  /** Also rescan on this interval (default and 0: every 5 s, a safety net for missed file events). */
  readonly pollIntervalMs?: number;
  /**
   * Scans parse files of at least this many bytes in a worker thread (default OFF_THREAD_BYTES).
   * Only without a custom `check` (a function cannot cross to the worker); with one, all parse here.
   */
  readonly offThreadBytes?: number;
  /**
   * CRD files whose schemas check the objects (`--crds`), compiled in each thread that parses;
   * unlike a custom `check`, large files still parse in the worker.
   */
  readonly crds?: readonly string[];
  /** Called after every scan with the current diagnostics. */
  readonly onScan?: (result: FileScanResult) => void;
}

export interface FileScanResult {
  readonly files: number;
  readonly objects: number;
  readonly ignored: readonly IgnoredObject[];
  readonly diagnostics: readonly ManifestDiagnostic[];
  readonly changes: number;
}

interface CachedFile {
  readonly mtimeMs: number;
  readonly size: number;
  readonly set: ManifestSet;
}

function withoutMetaAndStatus(obj: object): string {
  const { metadata: _m, status: _s, ...rest } = obj as { metadata?: unknown; status?: unknown };
  return JSON.stringify(rest);
}

/**
 * Standalone mode plays the API server's part for the fields it owns:
 * `generation` (1, then +1 when anything but metadata and status changes),
 * `uid` and `creationTimestamp` (kept from the first load), and `.status`,
 * which belongs to the controller and survives edits of the file.
 */
function withServerFields(loaded: LoadedObject, store: ResourceStore): AnyStoredObject {
  const meta = loaded.object.metadata;
  const current = store.get(loaded.kind, meta.namespace ?? "", meta.name) as AnyStoredObject | undefined;
  const changed =
    current === undefined || withoutMetaAndStatus(current) !== withoutMetaAndStatus(loaded.object);
  const generation =
    current?.metadata.generation === undefined ? 1 : current.metadata.generation + (changed ? 1 : 0);
  const status = (current as { status?: unknown } | undefined)?.status;
  return {
    ...loaded.object,
    metadata: {
      ...meta,
      uid: current?.metadata.uid ?? meta.uid ?? randomUUID(),
      creationTimestamp:
        current?.metadata.creationTimestamp ??
        meta.creationTimestamp ??
        new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      generation,
    },
    ...(status === undefined || (loaded.object as { status?: unknown }).status !== undefined
      ? {}
      : { status }),
  } as AnyStoredObject;
}

export class FileSource {
  readonly #dir: string;
  readonly #store: ResourceStore;
  readonly #options: FileSourceOptions;
  readonly #cache = new Map<string, CachedFile>();
  /** What this source last put in the store, by `Kind/namespace/name`. */
  #owned = new Map<string, LoadedObject>();
  /**
   * One non-recursive watcher per folder read. Node's recursive watcher walks
   * the tree itself and gives up at the first symlink loop, leaving the
   * folders after it unwatched; the listing already knows each real folder once.
   */
  readonly #watchers = new Map<string, FSWatcher>();
  #started = false;
  #poller: NodeJS.Timeout | undefined;
  #debounce: NodeJS.Timeout | undefined;
  /** When the first file event not yet scanned arrived. */
  #burstStart: number | undefined;
  #lastScan: FileScanResult | undefined;
  #scanning = false;
  #rescanRequested = false;
  #parser: ManifestParser | undefined;
  /** The parse options as they cross to the worker (no custom `check`). */
  readonly #request: Omit<ParseRequest, "id" | "file">;
  /** Bumped by stop(): a rescan that awaited the worker across a stop applies nothing. */
  #epoch = 0;

  constructor(dir: string, store: ResourceStore, options: FileSourceOptions = {}) {
    this.#dir = dir;
    this.#store = store;
    this.#options = options;
    this.#request = {
      ...(options.defaultNamespace === undefined ? {} : { defaultNamespace: options.defaultNamespace }),
      ...(options.crds === undefined ? {} : { crds: options.crds }),
    };
  }

  get lastScan(): FileScanResult | undefined {
    return this.#lastScan;
  }

  /**
   * Loads the folder once, large files in the worker (the event loop keeps serving meanwhile),
   * then watches it; resolves with the first load.
   */
  async start(): Promise<FileScanResult> {
    this.#started = true;
    const result = await this.rescan();
    if (!this.#started) return result; // stopped during the first load
    // A safety net for what watching folder by folder can miss (a file written into a new folder
    // before its watcher exists): a rescan every few seconds, cheap as unchanged files are not re-read.
    const interval = this.#options.pollIntervalMs ?? 0;
    this.#startPolling(interval > 0 ? interval : 5000);
    return result;
  }

  /** Watches exactly the folders the last listing read. */
  #watchFolders(folders: readonly string[]): void {
    if (!this.#started) return;
    const wanted = new Set(folders);
    for (const [folder, watcher] of this.#watchers)
      if (!wanted.has(folder)) {
        watcher.close();
        this.#watchers.delete(folder);
      }
    for (const folder of wanted) {
      if (this.#watchers.has(folder)) continue;
      try {
        const watcher = watch(folder, () => this.#scheduleScan());
        watcher.on("error", (error) => {
          this.#options.logger?.warn({ err: error, folder }, "manifest folder watch failed; polling instead");
          watcher.close();
          this.#watchers.delete(folder);
          this.#startPolling(1000);
        });
        this.#watchers.set(folder, watcher);
      } catch (error) {
        this.#options.logger?.warn({ err: error, folder }, "cannot watch manifest folder; polling instead");
        this.#startPolling(1000);
      }
    }
  }

  stop(): void {
    this.#started = false;
    this.#epoch++;
    void this.#parser?.close();
    this.#parser = undefined;
    for (const watcher of this.#watchers.values()) watcher.close();
    this.#watchers.clear();
    if (this.#poller !== undefined) clearInterval(this.#poller);
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    this.#poller = undefined;
    this.#debounce = undefined;
  }

  /** What a scan that cannot run now (one is under way, or the source stopped) answers. */
  #lastOrEmpty(): FileScanResult {
    return this.#lastScan ?? { files: 0, objects: 0, ignored: [], diagnostics: [], changes: 0 };
  }

  /**
   * Reads the folder, parsing large files in the worker thread, and applies the difference to the
   * store. What the first load, file events and polls run; never throws on bad input.
   */
  async rescan(): Promise<FileScanResult> {
    if (this.#scanning) {
      this.#rescanRequested = true;
      return this.#lastOrEmpty();
    }
    this.#scanning = true;
    try {
      let result = await this.#scanOnceAsync();
      while (this.#rescanRequested) {
        this.#rescanRequested = false;
        result = await this.#scanOnceAsync();
      }
      return result;
    } finally {
      this.#scanning = false;
    }
  }

  async #scanOnceAsync(): Promise<FileScanResult> {
    const epoch = this.#epoch;
    const listed = this.#list();
    if ("result" in listed) return listed.result;
    // Answers come in file order whatever the thread, so merging (and its duplicate reports) is unchanged.
    const sets = await Promise.all(listed.files.map((file) => this.#parseFileAsync(file)));
    // Stopped while the worker parsed: the store is no longer this source's to change.
    if (this.#epoch !== epoch) return this.#lastOrEmpty();
    return this.#apply(listed, sets);
  }

  /** The folder's manifest files, or the result of a scan that could not list it. */
  #list(): { files: readonly string[]; diagnostics: ManifestDiagnostic[] } | { result: FileScanResult } {
    const diagnostics: ManifestDiagnostic[] = [];
    try {
      const list = listManifestFiles(this.#dir);
      diagnostics.push(...list.skipped);
      this.#watchFolders(list.folders);
      return { files: list.files, diagnostics };
    } catch (error) {
      diagnostics.push({
        severity: "error",
        file: this.#dir,
        message: `cannot read folder: ${(error as Error).message}`,
      });
      // Keep serving what we had: a folder that vanished for a moment must not wipe the config.
      const result = { files: 0, objects: this.#owned.size, ignored: [], diagnostics, changes: 0 };
      this.#finish(result);
      return { result };
    }
  }

  #apply(
    listed: { files: readonly string[]; diagnostics: ManifestDiagnostic[] },
    sets: readonly ManifestSet[],
  ): FileScanResult {
    const { files, diagnostics } = listed;
    const ignored: IgnoredObject[] = [];
    const desired = new Map<string, LoadedObject>();
    for (const set of sets) {
      for (const d of set.diagnostics) diagnostics.push(d);
      for (const i of set.ignored) ignored.push(i);
      for (const loaded of set.objects) mergeObject(desired, loaded, diagnostics);
    }
    const seen = new Set(files);
    for (const file of this.#cache.keys()) if (!seen.has(file)) this.#cache.delete(file);

    let changes = 0;
    for (const [key, loaded] of desired) {
      // An unchanged file gives back the very objects it gave last time: nothing to compare or write.
      // (With 5,000 files, comparing every object on each edit cost about 250 ms.)
      if (
        this.#owned.get(key) !== loaded &&
        this.#store.upsert(loaded.kind, withServerFields(loaded, this.#store))
      )
        changes++;
      this.#owned.delete(key);
    }
    for (const gone of this.#owned.values()) {
      const meta = gone.object.metadata;
      if (this.#store.delete(gone.kind as KindName, meta.namespace ?? "", meta.name)) changes++;
    }
    this.#owned = desired;
    const result = { files: files.length, objects: desired.size, ignored, diagnostics, changes };
    this.#finish(result);
    return result;
  }

  #finish(result: FileScanResult): void {
    const previous = this.#lastScan;
    this.#lastScan = result;
    const logger = this.#options.logger;
    if (logger !== undefined) {
      const before = new Set(previous?.diagnostics.map(formatDiagnostic));
      for (const d of result.diagnostics) {
        const line = formatDiagnostic(d);
        if (before.has(line)) continue; // report each problem once, not on every rescan
        if (d.severity === "error") logger.error({ manifest: d }, `invalid manifest: ${line}`);
        else logger.warn({ manifest: d }, line);
      }
      if (result.changes > 0 || previous === undefined) {
        logger.info(
          {
            dir: this.#dir,
            files: result.files,
            objects: result.objects,
            changes: result.changes,
            invalid: result.diagnostics.filter((d) => d.severity === "error").length,
          },
          "manifests loaded",
        );
      }
    }
    this.#options.onScan?.(result);
  }

  /** The file's stat, with its parse when the file is unchanged since then; undefined when it is gone. */
  #lookup(file: string): { stat: Stats; cached: ManifestSet | undefined } | undefined {
    const stat = statSync(file, { throwIfNoEntry: false });
    if (stat === undefined) return undefined;
    const c = this.#cache.get(file);
    const fresh = c !== undefined && c.mtimeMs === stat.mtimeMs && c.size === stat.size;
    return { stat, cached: fresh ? c.set : undefined };
  }

  #parseFile(file: string): ManifestSet {
    const found = this.#lookup(file);
    if (found === undefined) return EMPTY_SET;
    if (found.cached !== undefined) return found.cached;
    // A custom check stays here; otherwise the very options the worker gets (CRD schemas included).
    const set = parseManifestFile(
      file,
      this.#options.check === undefined ? parseOptionsOf(this.#request) : this.#options,
    );
    this.#cache.set(file, { mtimeMs: found.stat.mtimeMs, size: found.stat.size, set });
    return set;
  }

  async #parseFileAsync(file: string): Promise<ManifestSet> {
    // A custom check is a function, which cannot cross to the worker.
    if (this.#options.check !== undefined) return this.#parseFile(file);
    const found = this.#lookup(file);
    if (found === undefined) return EMPTY_SET;
    if (found.cached !== undefined) return found.cached;
    if (found.stat.size < (this.#options.offThreadBytes ?? OFF_THREAD_BYTES)) return this.#parseFile(file);
    this.#parser ??= new ManifestParser(this.#options.logger);
    const set = await this.#parser.parse(file, this.#request);
    // Keyed by the stat taken before the read: a file changed meanwhile differs from it and is read again.
    this.#cache.set(file, { mtimeMs: found.stat.mtimeMs, size: found.stat.size, set });
    return set;
  }

  #scheduleScan(): void {
    if (this.#debounce !== undefined) clearTimeout(this.#debounce);
    const now = Date.now();
    this.#burstStart ??= now;
    const debounce = this.#options.debounceMs ?? 50;
    const latest = this.#burstStart + (this.#options.maxDelayMs ?? 250);
    this.#debounce = setTimeout(
      () => {
        this.#debounce = undefined;
        this.#burstStart = undefined;
        void this.rescan();
      },
      Math.max(0, Math.min(debounce, latest - now)),
    );
  }

  #startPolling(intervalMs: number): void {
    if (this.#poller !== undefined) return;
    this.#poller = setInterval(() => void this.rescan(), intervalMs);
    this.#poller.unref();
  }
}
