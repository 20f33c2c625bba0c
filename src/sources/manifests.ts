/**
 * Reading Kubernetes manifests: files of multi-document YAML or JSON (a single
 * object or a `List`). Each document becomes a typed object or a diagnostic
 * naming the file, the document index, the object and the failing field; a bad
 * document never stops the others from loading, and nothing here throws on
 * bad input.
 */
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import { CORE_SCHEMA, load as loadYamlFast } from "js-yaml";
import { isMap, isScalar, parseAllDocuments, visit } from "yaml";
import { isKindName, KIND_NAMES, type KindName, kindInfo, parseApiVersion } from "../resources/kinds.ts";
import type { AnyStoredObject } from "../resources/objects.ts";
import { checkFields } from "./field-checks.ts";
import { packagedSchemaCheck, type SchemaCheck } from "./schema.ts";

export interface ManifestOrigin {
  readonly file: string;
  /** 0-based index of the document in its file (for a List, of the item). */
  readonly document: number;
}

export interface LoadedObject {
  readonly kind: KindName;
  readonly object: AnyStoredObject;
  readonly origin: ManifestOrigin;
}

/** An object of a kind strait does not read (a Deployment, say): kept aside, not an error. */
export interface IgnoredObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly object: Record<string, unknown>;
  readonly origin: ManifestOrigin;
}

export interface ManifestDiagnostic {
  readonly severity: "error" | "warning";
  readonly file: string;
  readonly document?: number;
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
  /** Failing field, e.g. `spec.rules[0].matches[0].path.type`. */
  readonly path?: string;
  readonly message: string;
}

export interface ManifestSet {
  readonly objects: readonly LoadedObject[];
  readonly ignored: readonly IgnoredObject[];
  readonly diagnostics: readonly ManifestDiagnostic[];
}

export interface ParseOptions {
  readonly check?: SchemaCheck;
  /** Namespace given to namespaced objects that name none (kubectl's default). */
  readonly defaultNamespace?: string;
}

/** One line per diagnostic: `file#doc Kind ns/name: path: message`. */
export function formatDiagnostic(d: ManifestDiagnostic): string {
  const where = d.document === undefined ? d.file : `${d.file}#${d.document}`;
  const what =
    d.kind === undefined
      ? ""
      : ` ${d.kind}${d.name === undefined ? "" : ` ${d.namespace ? `${d.namespace}/` : ""}${d.name}`}`;
  const path = d.path === undefined ? "" : ` ${d.path}:`;
  return `${where}${what}:${path} ${d.message}`;
}

/** Largest document read: the API server's request limit (3 MiB); etcd stores at most 1.5 MiB. */
export const MAX_DOCUMENT_BYTES = 3 * 1024 * 1024;
/** Deepest nesting read; real manifests stay far below, and deeper input only serves to exhaust the stack. */
export const MAX_DEPTH = 100;
/** Largest manifest file read (a file is parsed at once; larger ones are refused with a clear error). */
export const MAX_FILE_BYTES = 32 * 1024 * 1024;

/** Nesting depth of a parsed value, counted without recursion. */
function depthExceeds(value: unknown, limit: number): boolean {
  const stack: { v: unknown; d: number }[] = [{ v: value, d: 0 }];
  while (stack.length > 0) {
    const { v, d } = stack.pop() as { v: unknown; d: number };
    if (v === null || typeof v !== "object") continue;
    if (d >= limit) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push({ v: child, d: d + 1 });
  }
  return false;
}

/** The first key that occurs twice in one mapping of the document, in one pass over each mapping. */
function duplicateKey(doc: Parameters<typeof visit>[0]): string | undefined {
  let found: string | undefined;
  try {
    visit(doc, {
      Map(_key, map) {
        if (!isMap(map)) return undefined;
        const seen = new Set<unknown>();
        for (const pair of map.items) {
          const key = isScalar(pair.key) ? pair.key.value : pair.key;
          if (typeof key === "object" && key !== null) continue; // complex keys: left to the schema checks
          if (seen.has(key)) {
            found = `map keys must be unique; "${String(key)}" is repeated`;
            return visit.BREAK;
          }
          seen.add(key);
        }
        return undefined;
      },
    });
  } catch (error) {
    return parseProblem(error, "YAML");
  }
  return found;
}

function parseProblem(error: unknown, what: string): string {
  return error instanceof RangeError && /call stack/i.test(error.message)
    ? `nested deeper than strait reads (at most ${MAX_DEPTH} levels)`
    : `not valid ${what}: ${(error as Error).message}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Parses the text of one manifest file. */
export function parseManifestText(file: string, text: string, options: ParseOptions = {}): ManifestSet {
  const objects: LoadedObject[] = [];
  const ignored: IgnoredObject[] = [];
  const diagnostics: ManifestDiagnostic[] = [];
  const documents: { value: unknown; index: number }[] = [];

  if (file.endsWith(".json")) {
    if (text.length > MAX_DOCUMENT_BYTES) {
      diagnostics.push({
        severity: "error",
        file,
        document: 0,
        message: `document of ${text.length} bytes is larger than strait reads (${MAX_DOCUMENT_BYTES})`,
      });
    } else {
      try {
        documents.push({ value: JSON.parse(text), index: 0 });
      } catch (error) {
        diagnostics.push({ severity: "error", file, message: parseProblem(error, "JSON") });
      }
    }
  } else {
    const fast = plainDocuments(text);
    // Loops, not push(...): a spread of 150,000 documents overflows the call stack.
    if (fast !== undefined) for (const d of fast) documents.push(d);
    else parseYamlDocuments(file, text, documents, diagnostics);
  }

  let listItemIndex = 0;
  for (const { value, index } of documents) {
    if (depthExceeds(value, MAX_DEPTH)) {
      diagnostics.push({
        severity: "error",
        file,
        document: index,
        message: `nested deeper than strait reads (at most ${MAX_DEPTH} levels)`,
      });
      continue;
    }
    // A `List` (kubectl get -o yaml) holds objects in `items`; number them after the documents.
    if (
      isRecord(value) &&
      typeof value.kind === "string" &&
      value.kind.endsWith("List") &&
      Array.isArray(value.items)
    ) {
      for (const item of value.items) {
        acceptDocument(file, index + listItemIndex, item, options, objects, ignored, diagnostics);
        listItemIndex++;
      }
      continue;
    }
    if (
      isRecord(value) &&
      value.kind === "List" &&
      value.items !== undefined &&
      !Array.isArray(value.items)
    ) {
      diagnostics.push({
        severity: "error",
        file,
        document: index,
        kind: "List",
        path: "items",
        message: "must be a list",
      });
      continue;
    }
    acceptDocument(file, index, value, options, objects, ignored, diagnostics);
  }
  return { objects, ignored, diagnostics };
}

/**
 * The documents of a YAML file with the `yaml` package: exact per-document errors, and
 * a bound on alias expansion. Used when the fast path below does not apply.
 */
function parseYamlDocuments(
  file: string,
  text: string,
  documents: { value: unknown; index: number }[],
  diagnostics: ManifestDiagnostic[],
): void {
  let parsed: ReturnType<typeof parseAllDocuments>;
  try {
    // uniqueKeys off: the library checks duplicates pairwise (10,000 keys took 6 s); duplicateKey does it in one pass.
    parsed = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: false });
  } catch (error) {
    diagnostics.push({ severity: "error", file, message: parseProblem(error, "YAML") });
    parsed = [];
  }
  const docs = Array.isArray(parsed) ? parsed : [parsed];
  docs.forEach((doc, index) => {
    const size = (doc.range?.[2] ?? 0) - (doc.range?.[0] ?? 0);
    if (size > MAX_DOCUMENT_BYTES) {
      diagnostics.push({
        severity: "error",
        file,
        document: index,
        message: `document of ${size} bytes is larger than strait reads (${MAX_DOCUMENT_BYTES})`,
      });
      return;
    }
    for (const w of doc.warnings)
      diagnostics.push({
        severity: "warning",
        file,
        document: index,
        message: `YAML: ${w.message.split("\n")[0]}`,
      });
    const duplicate = doc.errors.length === 0 ? duplicateKey(doc) : undefined;
    if (duplicate !== undefined) {
      diagnostics.push({
        severity: "error",
        file,
        document: index,
        message: `not valid YAML: ${duplicate}`,
      });
      return;
    }
    if (doc.errors.length > 0) {
      const first = doc.errors[0];
      if (/call stack/i.test(first?.message ?? "")) {
        diagnostics.push({
          severity: "error",
          file,
          document: index,
          message: `nested deeper than strait reads (at most ${MAX_DEPTH} levels)`,
        });
        return;
      }
      diagnostics.push({
        severity: "error",
        file,
        document: index,
        message: `not valid YAML: ${first?.message.split("\n")[0] ?? "parse error"}`,
      });
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (error) {
      diagnostics.push({ severity: "error", file, document: index, message: parseProblem(error, "YAML") });
      return;
    }
    if (value === null || value === undefined) return; // empty document, e.g. after a trailing `---`
    documents.push({ value, index });
  });
}

/** A document marker line (`---`, alone or followed by content after a blank). */
const DOCUMENT_START = /^---(?=[ \t]|\r?$)/m;
/** What the fast path leaves to the `yaml` package: directives, document ends, tags, anchors and aliases. */
const NOT_PLAIN = /^%|^\.\.\.(?:[ \t]|\r?$)|!|(?:^|[\s[{,])[&*][^\s[\]{},]/m;
const CONTENT_LINE = /^[ \t]*[^ \t\r\n#]/m;

/** Only blank lines and comments. */
function blankOrComments(text: string): boolean {
  return !CONTENT_LINE.test(text);
}

/**
 * The fast path for plain manifests (what kubectl, Helm and generators write): the file
 * is cut at its document markers and each document read with js-yaml's YAML 1.2 core
 * schema, the `yaml` package's default, which gives the same values about ten times
 * faster and without a syntax tree. Undefined when the file has anything the
 * `yaml` package should judge instead (see NOT_PLAIN) or any document fails to parse,
 * so that errors keep their exact, per-document diagnostics.
 */
export function plainDocuments(text: string): { value: unknown; index: number }[] | undefined {
  if (NOT_PLAIN.test(text)) return undefined;
  const parts = text.split(DOCUMENT_START);
  // Comments and blank lines before the first marker are that document's prelude, not a document.
  if (parts.length > 1 && blankOrComments(parts[0] as string)) parts.shift();
  const out: { value: unknown; index: number }[] = [];
  try {
    parts.forEach((part, index) => {
      if (blankOrComments(part)) return; // an empty document (js-yaml refuses those)
      // Too large a document: the full parser reports it (with its size).
      if (part.length > MAX_DOCUMENT_BYTES) throw new RangeError("document too large");
      const value = loadYamlFast(part, { schema: CORE_SCHEMA });
      if (value !== null && value !== undefined) out.push({ value, index });
    });
  } catch {
    return undefined;
  }
  return out;
}

function acceptDocument(
  file: string,
  document: number,
  value: unknown,
  options: ParseOptions,
  objects: LoadedObject[],
  ignored: IgnoredObject[],
  diagnostics: ManifestDiagnostic[],
): void {
  const origin = { file, document };
  if (!isRecord(value)) {
    diagnostics.push({
      severity: "error",
      file,
      document,
      message: `document is not an object (got ${describe(value)})`,
    });
    return;
  }
  const metadata = isRecord(value.metadata) ? value.metadata : undefined;
  const name = typeof metadata?.name === "string" ? metadata.name : undefined;
  const kindField = value.kind;
  const typed = metadataTypeProblem(value.metadata);
  if (typed !== undefined) {
    diagnostics.push({
      severity: "error",
      file,
      document,
      ...(typeof kindField === "string" ? { kind: kindField } : {}),
      path: typed.path,
      message: typed.message,
    });
    return;
  }
  const ident = {
    ...(typeof kindField === "string" ? { kind: kindField } : {}),
    ...(name === undefined ? {} : { name }),
    ...(typeof metadata?.namespace === "string" ? { namespace: metadata.namespace } : {}),
  };
  if (typeof value.apiVersion !== "string" || value.apiVersion === "") {
    diagnostics.push({
      severity: "error",
      file,
      document,
      ...ident,
      path: "apiVersion",
      message: "missing apiVersion",
    });
    return;
  }
  if (typeof kindField !== "string" || kindField === "") {
    diagnostics.push({ severity: "error", file, document, ...ident, path: "kind", message: "missing kind" });
    return;
  }
  if (!isKindName(kindField) || parseApiVersion(value.apiVersion).group !== kindInfo(kindField).group) {
    ignored.push({ apiVersion: value.apiVersion, kind: kindField, object: value, origin });
    const why = notReadWarning(kindField, value.apiVersion);
    if (why !== undefined)
      diagnostics.push({ severity: "warning", file, document, ...ident, path: "kind", message: why });
    return;
  }
  const kind = kindField;
  if (name === undefined || name === "") {
    diagnostics.push({
      severity: "error",
      file,
      document,
      ...ident,
      path: "metadata.name",
      message: "missing metadata.name",
    });
    return;
  }
  const normalized = normalizeNamespace(kind, value, metadata ?? {}, options.defaultNamespace ?? "default");
  const violations = (options.check ?? packagedSchemaCheck)(kind, normalized);
  if (violations.length > 0) {
    for (const v of violations) {
      diagnostics.push({
        severity: "error",
        file,
        document,
        kind,
        name,
        ...(typeof normalized.metadata === "object" && normalized.metadata !== null
          ? { namespace: String((normalized.metadata as { namespace?: unknown }).namespace ?? "") }
          : {}),
        path: v.path,
        message: v.message,
      });
    }
    return;
  }
  const checked = checkFields(kind, normalized);
  const namespace = String((normalized.metadata as { namespace?: unknown }).namespace ?? "");
  for (const p of checked.problems)
    diagnostics.push({
      severity: p.severity,
      file,
      document,
      kind,
      name,
      namespace,
      path: p.path,
      message: p.message,
    });
  if (checked.object === undefined) return;
  objects.push({ kind, object: checked.object as unknown as AnyStoredObject, origin });
}

/** What the API server requires of every object name it stores (DNS-1123 subdomain). */
const DNS_SUBDOMAIN = /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** What a namespace name must be (DNS-1123 label). */
const DNS_LABEL = /^(?=.{1,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Metadata fields of the wrong type (`namespace: 7`) are an error, never silently replaced. */
function metadataTypeProblem(metadata: unknown): { path: string; message: string } | undefined {
  if (metadata === undefined) return undefined;
  if (!isRecord(metadata))
    return { path: "metadata", message: `must be an object (got ${describe(metadata)})` };
  for (const field of ["name", "namespace", "generateName", "resourceVersion", "uid"]) {
    const v = metadata[field];
    if (v !== undefined && v !== null && typeof v !== "string")
      return { path: `metadata.${field}`, message: `must be a string (got ${describe(v)})` };
  }
  const name = metadata.name;
  if (typeof name === "string" && name !== "" && !DNS_SUBDOMAIN.test(name))
    return {
      path: "metadata.name",
      message:
        "must be a DNS subdomain: at most 253 characters of a-z, 0-9, '-' and '.', starting and ending with a letter or digit",
    };
  const namespace = metadata.namespace;
  if (typeof namespace === "string" && namespace !== "" && !DNS_LABEL.test(namespace))
    return {
      path: "metadata.namespace",
      message:
        "must be a DNS label: at most 63 characters of a-z, 0-9 and '-', starting and ending with a letter or digit",
    };
  for (const field of ["labels", "annotations"]) {
    const v = metadata[field];
    if (v === undefined || v === null) continue;
    if (!isRecord(v)) return { path: `metadata.${field}`, message: `must be a map (got ${describe(v)})` };
    for (const [key, item] of Object.entries(v))
      if (typeof item !== "string")
        return { path: `metadata.${field}.${key}`, message: `must be a string (got ${describe(item)})` };
  }
  return undefined;
}

/** Groups strait reads kinds of: an unknown kind there is most likely a typo. */
const READ_GROUPS = new Set(KIND_NAMES.map((k) => kindInfo(k).group).filter((g) => g !== ""));

/**
 * Why an object that is not read deserves a warning: its kind is a known
 * kind miswritten (`httproute`), a known kind in another group
 * (`example.com/v1` HTTPRoute), or an unknown kind in a group strait reads.
 * Objects of other groups (a Deployment) are left aside silently.
 */
function notReadWarning(kind: string, apiVersion: string): string | undefined {
  const group = parseApiVersion(apiVersion).group;
  if (!/^[A-Za-z][A-Za-z0-9]*$/.test(kind)) return `kind ${JSON.stringify(kind)} is not a kind name`;
  const same = KIND_NAMES.find((k) => k.toLowerCase() === kind.toLowerCase());
  if (same !== undefined && same !== kind)
    return `kind ${kind} is not read by strait (did you mean ${same}?)`;
  if (same !== undefined) {
    const expected = kindInfo(same).group;
    return `${kind} of ${group === "" ? "the core group" : `group ${group}`} is not read by strait (it reads ${kind} of ${expected === "" ? "the core group, apiVersion v1" : expected})`;
  }
  if (READ_GROUPS.has(group)) return `kind ${kind} of group ${group} is not read by strait`;
  return undefined;
}

function normalizeNamespace(
  kind: KindName,
  value: Record<string, unknown>,
  metadata: Record<string, unknown>,
  defaultNamespace: string,
): Record<string, unknown> {
  if (kindInfo(kind).namespaced) {
    if (typeof metadata.namespace === "string" && metadata.namespace !== "") return value;
    return { ...value, metadata: { ...metadata, namespace: defaultNamespace } };
  }
  if (metadata.namespace === undefined) return value;
  const { namespace: _dropped, ...rest } = metadata;
  return { ...value, metadata: rest };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "a list";
  return `a ${typeof value}`;
}

const MANIFEST_FILE = /\.(ya?ml|json)$/i;

/** Deepest folder level read below a manifests folder. */
export const MAX_FOLDER_DEPTH = 32;
/** Most folder entries looked at in one listing (a folder tree larger than this is cut off, with a warning). */
export const MAX_FOLDER_ENTRIES = 100_000;

export interface ManifestFileList {
  readonly files: readonly string[];
  /** The folders read (each real folder once), for a watcher to watch. */
  readonly folders: readonly string[];
  /** Entries skipped, each with why (a symlink loop, an unreadable folder, a second path to one file). */
  readonly skipped: readonly ManifestDiagnostic[];
}

/**
 * Every manifest file under a path (a file is taken as given), in a stable
 * order. Symlinks are followed to what they point at, with protection: each
 * real folder is entered once (a `sub -> .` link is not followed again) and
 * each real file read once (the first path to it in sorted order), at most
 * MAX_FOLDER_DEPTH levels deep and MAX_FOLDER_ENTRIES entries; a link to a
 * folder outside the manifests folder is not followed (`proc -> /proc/self`
 * would walk the whole machine), a link to a file anywhere is. An entry that cannot be resolved or read (a
 * `loop.yaml -> loop.yaml`, a dangling link, a folder without permission) is
 * skipped with a warning; the rest of the folder is read. Throws only when the
 * path itself is missing or unreadable.
 */
export function listManifestFiles(path: string): ManifestFileList {
  const root = realpathSync(path);
  if (!statSync(root).isDirectory()) return { files: [path], folders: [], skipped: [] };
  const files: string[] = [];
  const folders: string[] = [];
  const skipped: ManifestDiagnostic[] = [];
  const realFiles = new Map<string, string>();
  const realDirs = new Set<string>([root]);
  const skip = (file: string, message: string) => skipped.push({ severity: "warning", file, message });
  let budget = MAX_FOLDER_ENTRIES;
  const walk = (dir: string, depth: number) => {
    folders.push(dir);
    let entries: string[];
    try {
      entries = readdirSync(dir, { encoding: "utf8" }).sort();
    } catch (error) {
      skip(dir, `folder skipped, cannot be read: ${(error as Error).message}`);
      return;
    }
    for (const entry of entries) {
      if (entry.startsWith(".")) continue;
      const full = join(dir, entry);
      if (--budget < 0) {
        if (budget === -1) skip(full, `listing stopped: more than ${MAX_FOLDER_ENTRIES} entries`);
        return;
      }
      let real: string;
      let stat: ReturnType<typeof statSync>;
      try {
        real = realpathSync(full);
        stat = statSync(real);
      } catch (error) {
        if (MANIFEST_FILE.test(entry) || lstatSync(full, { throwIfNoEntry: false })?.isSymbolicLink())
          skip(full, `skipped, cannot be resolved: ${(error as Error).message}`);
        continue;
      }
      if (stat.isDirectory()) {
        if (real !== root && !real.startsWith(`${root}/`)) {
          skip(full, `folder skipped: it links to ${real}, outside the manifests folder`);
          continue;
        }
        if (realDirs.has(real)) {
          skip(full, `folder skipped: it is ${real}, already read (a symlink loop or a second link to it)`);
          continue;
        }
        if (depth >= MAX_FOLDER_DEPTH) {
          skip(full, `folder skipped: deeper than ${MAX_FOLDER_DEPTH} levels`);
          continue;
        }
        realDirs.add(real);
        walk(full, depth + 1);
      } else if (stat.isFile() && MANIFEST_FILE.test(entry)) {
        const first = realFiles.get(real);
        if (first !== undefined) {
          skip(full, `skipped: the same file as ${first}, read once`);
          continue;
        }
        realFiles.set(real, full);
        files.push(full);
      }
    }
  };
  walk(path, 0);
  return { files, folders, skipped };
}

/** A manifest file's text, refusing (with a clear error) files larger than MAX_FILE_BYTES before reading them. */
export function readManifestFile(file: string): string {
  const size = statSync(file).size;
  if (size > MAX_FILE_BYTES)
    throw new Error(`file of ${size} bytes is larger than strait reads (${MAX_FILE_BYTES}); split it`);
  return readFileSync(file, "utf8");
}

/** Reads and parses one manifest file; a file that cannot be read is an error diagnostic, never a throw. */
export function parseManifestFile(file: string, options: ParseOptions = {}): ManifestSet {
  try {
    return parseManifestText(file, readManifestFile(file), options);
  } catch (error) {
    return {
      objects: [],
      ignored: [],
      diagnostics: [{ severity: "error", file, message: `cannot read: ${(error as Error).message}` }],
    };
  }
}

/**
 * Reads files and folders of manifests in one pass (the CLI's `-f`). Paths that
 * cannot be read become diagnostics. When two documents define the same object,
 * the later one wins and a warning names both.
 */
export function loadManifests(paths: readonly string[], options: ParseOptions = {}): ManifestSet {
  const objects = new Map<string, LoadedObject>();
  const ignored: IgnoredObject[] = [];
  const diagnostics: ManifestDiagnostic[] = [];
  for (const path of paths) {
    let files: readonly string[];
    try {
      const list = listManifestFiles(path);
      files = list.files;
      diagnostics.push(...list.skipped);
    } catch (error) {
      diagnostics.push({
        severity: "error",
        file: path,
        message: `cannot read: ${(error as Error).message}`,
      });
      continue;
    }
    for (const file of files) {
      const set = parseManifestFile(file, options);
      for (const d of set.diagnostics) diagnostics.push(d);
      for (const i of set.ignored) ignored.push(i);
      for (const loaded of set.objects) mergeObject(objects, loaded, diagnostics);
    }
  }
  return { objects: [...objects.values()], ignored, diagnostics };
}

/** Key of a loaded object within a manifest set. */
export function loadedKey(loaded: LoadedObject): string {
  return `${loaded.kind}/${loaded.object.metadata.namespace ?? ""}/${loaded.object.metadata.name}`;
}

export function mergeObject(
  objects: Map<string, LoadedObject>,
  loaded: LoadedObject,
  diagnostics: ManifestDiagnostic[],
): void {
  const key = loadedKey(loaded);
  const previous = objects.get(key);
  if (previous !== undefined) {
    diagnostics.push({
      severity: "warning",
      file: loaded.origin.file,
      document: loaded.origin.document,
      kind: loaded.kind,
      name: loaded.object.metadata.name,
      message: `duplicate of ${previous.origin.file}#${previous.origin.document}; this one is used`,
    });
  }
  objects.set(key, loaded);
}
