/**
 * Reading Kubernetes manifests: files of multi-document YAML or JSON (a single
 * object or a `List`). Each document becomes a typed object or a diagnostic
 * naming the file, the document index, the object and the failing field; a bad
 * document never stops the others from loading, and nothing here throws on
 * bad input.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { CORE_SCHEMA, load as loadYamlFast } from "js-yaml";
import { parseAllDocuments } from "yaml";
import { isKindName, type KindName, kindInfo, parseApiVersion } from "../resources/kinds.ts";
import type { AnyStoredObject } from "../resources/objects.ts";
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
    try {
      documents.push({ value: JSON.parse(text), index: 0 });
    } catch (error) {
      diagnostics.push({ severity: "error", file, message: `not valid JSON: ${(error as Error).message}` });
    }
  } else {
    const fast = plainDocuments(text);
    // Loops, not push(...): a spread of 150,000 documents overflows the call stack.
    if (fast !== undefined) for (const d of fast) documents.push(d);
    else parseYamlDocuments(file, text, documents, diagnostics);
  }

  let listItemIndex = 0;
  for (const { value, index } of documents) {
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
    parsed = parseAllDocuments(text, { prettyErrors: true });
  } catch (error) {
    diagnostics.push({ severity: "error", file, message: `not valid YAML: ${(error as Error).message}` });
    parsed = [];
  }
  const docs = Array.isArray(parsed) ? parsed : [parsed];
  docs.forEach((doc, index) => {
    if (doc.errors.length > 0) {
      const first = doc.errors[0];
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
      diagnostics.push({
        severity: "error",
        file,
        document: index,
        message: `not valid YAML: ${(error as Error).message}`,
      });
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
  objects.push({ kind, object: normalized as unknown as AnyStoredObject, origin });
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

/** Every manifest file under a path (a file is taken as given), in a stable order. */
export function manifestFiles(path: string): string[] {
  const stat = statSync(path);
  if (!stat.isDirectory()) return [path];
  return readdirSync(path, { recursive: true, encoding: "utf8" })
    .filter((entry) => MANIFEST_FILE.test(entry) && !entry.split("/").some((part) => part.startsWith(".")))
    .sort()
    .map((entry) => join(path, entry))
    .filter((file) => statSync(file, { throwIfNoEntry: false })?.isFile() === true);
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
    let files: string[];
    try {
      files = manifestFiles(path);
    } catch (error) {
      diagnostics.push({
        severity: "error",
        file: path,
        message: `cannot read: ${(error as Error).message}`,
      });
      continue;
    }
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file, "utf8");
      } catch (error) {
        diagnostics.push({ severity: "error", file, message: `cannot read: ${(error as Error).message}` });
        continue;
      }
      const set = parseManifestText(file, text, options);
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
