/**
 * Server-side apply as the test API server does it: field ownership per
 * manager, recorded in `metadata.managedFields` in the FieldsV1 format
 * (`f:<field>`, `k:<key of a list-map item>`, `.` for the item itself), and the
 * merge of an applied configuration into the live object:
 *
 * - the fields of the configuration are set, objects merged member by member,
 *   list-maps (`spec.ports` by port and protocol, `metadata.ownerReferences` by
 *   uid) item by item; other lists and atomic maps (`spec.selector`) replaced;
 * - fields the manager applied before but no longer does are removed, unless
 *   another manager owns them too;
 * - a field another manager owns with a different value is a conflict (409),
 *   unless `force`, which moves its ownership to the applier.
 *
 * What it leaves out: the schema of every kind (only the list types above are
 * known; other lists are atomic), and ownership of fields written by POST, PUT
 * or merge patch (the real server records an `Update` entry for those; here
 * they are unowned, which is what an apply sees of fields whose manager has
 * since given them up).
 */
import { sortKeys } from "./json.ts";

type Json = unknown;
type Obj = Record<string, Json>;

/** One step of a field path: a member of an object, or the item of a list-map with these key values. */
type Step = { readonly field: string } | { readonly key: Readonly<Obj> };

interface ListMap {
  readonly keys: readonly string[];
  /** Key values the schema defaults when an item leaves them out. */
  readonly defaults: Readonly<Obj>;
}

/** Field paths (members only, no list positions) → how their lists merge. */
const LIST_MAPS: ReadonlyMap<string, ListMap> = new Map([
  ["metadata.ownerReferences", { keys: ["uid"], defaults: {} }],
  ["spec.ports", { keys: ["port", "protocol"], defaults: { protocol: "TCP" } }],
]);

/** Maps set and replaced as a whole. */
const ATOMIC_MAPS: ReadonlySet<string> = new Set(["spec.selector"]);

/** Fields the server owns: never part of a manager's set. */
const SERVER_METADATA = new Set([
  "name",
  "namespace",
  "uid",
  "resourceVersion",
  "generation",
  "creationTimestamp",
  "deletionTimestamp",
  "managedFields",
  "selfLink",
]);

export interface ManagedFieldsEntry {
  manager: string;
  operation: "Apply" | "Update";
  apiVersion: string;
  time: string;
  fieldsType: "FieldsV1";
  fieldsV1: Obj;
}

export interface ApplyConflict {
  readonly manager: string;
  /** The field in the API's notation, such as `.metadata.labels.app`. */
  readonly field: string;
}

export type ApplyResult =
  | { readonly ok: true; readonly object: Obj }
  | { readonly ok: false; readonly code: 409; readonly conflicts: readonly ApplyConflict[] }
  | { readonly ok: false; readonly code: 422; readonly message: string };

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function encodeStep(step: Step): string {
  return "field" in step ? `f:${step.field}` : `k:${JSON.stringify(sortKeys(step.key))}`;
}

function decodeStep(text: string): Step {
  return text.startsWith("k:") ? { key: JSON.parse(text.slice(2)) as Obj } : { field: text.slice(2) };
}

const SEP = "\u0000";

function pathKey(steps: readonly Step[]): string {
  return steps.map(encodeStep).join(SEP);
}

function stepsOf(key: string): Step[] {
  return key.split(SEP).map(decodeStep);
}

/** `spec.ports` for the steps f:spec, f:ports, k:{...}, ...: the member names only. */
function schemaPath(steps: readonly Step[]): string {
  return steps.flatMap((s) => ("field" in s ? [s.field] : [])).join(".");
}

function itemKey(list: ListMap, item: Obj): Obj | string {
  const key: Obj = {};
  for (const k of list.keys) {
    const value = item[k] ?? list.defaults[k];
    if (value === undefined) {
      return `associative list with keys has an element that omits key field "${k}" (and doesn't have default value)`;
    }
    key[k] = value;
  }
  return key;
}

function findItem(list: ListMap, items: readonly unknown[], key: Obj): number {
  return items.findIndex((i) => isObj(i) && same(itemKey(list, i), key));
}

/**
 * The paths of every field a configuration sets (leaves, and list-map items as
 * wholes), or the reason it cannot be applied.
 */
export function fieldsOf(config: Obj): Set<string> | string {
  const out = new Set<string>();
  const walk = (value: unknown, steps: Step[]): string | undefined => {
    const at = schemaPath(steps);
    const list = LIST_MAPS.get(at);
    if (Array.isArray(value) && list !== undefined) {
      for (const item of value) {
        if (!isObj(item)) return `${at}: the items of an associative list must be objects`;
        const key = itemKey(list, item);
        if (typeof key === "string") return `${at}: ${key}`;
        const itemSteps = [...steps, { key }];
        out.add(pathKey(itemSteps));
        for (const [k, v] of Object.entries(item)) {
          const error = walk(v, [...itemSteps, { field: k }]);
          if (error !== undefined) return error;
        }
      }
      return undefined;
    }
    if (isObj(value) && Object.keys(value).length > 0 && !ATOMIC_MAPS.has(at)) {
      for (const [k, v] of Object.entries(value)) {
        const error = walk(v, [...steps, { field: k }]);
        if (error !== undefined) return error;
      }
      return undefined;
    }
    out.add(pathKey(steps));
    return undefined;
  };
  for (const [k, v] of Object.entries(config)) {
    if (k === "apiVersion" || k === "kind" || k === "status") continue;
    if (k === "metadata" && isObj(v)) {
      for (const [mk, mv] of Object.entries(v)) {
        if (SERVER_METADATA.has(mk)) continue;
        const error = walk(mv, [{ field: "metadata" }, { field: mk }]);
        if (error !== undefined) return error;
      }
      continue;
    }
    const error = walk(v, [{ field: k }]);
    if (error !== undefined) return error;
  }
  return out;
}

export function toFieldsV1(paths: ReadonlySet<string>): Obj {
  const root: Obj = {};
  for (const key of paths) {
    const steps = stepsOf(key);
    let node = root;
    for (const step of steps) {
      const name = encodeStep(step);
      node[name] ??= {};
      node = node[name] as Obj;
    }
    if ("key" in (steps.at(-1) ?? { field: "" })) node["."] = {};
  }
  return sortKeys(root);
}

export function fromFieldsV1(fields: unknown): Set<string> {
  const out = new Set<string>();
  const walk = (node: Obj, steps: Step[]) => {
    for (const [name, child] of Object.entries(node)) {
      if (name === ".") {
        out.add(pathKey(steps));
        continue;
      }
      const next = [...steps, decodeStep(name)];
      if (isObj(child) && Object.keys(child).length > 0) walk(child, next);
      else out.add(pathKey(next));
    }
  };
  if (isObj(fields)) walk(fields, []);
  return out;
}

function getAt(obj: unknown, steps: readonly Step[]): unknown {
  let node: unknown = obj;
  const seen: Step[] = [];
  for (const step of steps) {
    if ("field" in step) {
      node = isObj(node) ? node[step.field] : undefined;
    } else {
      const list = LIST_MAPS.get(schemaPath(seen));
      if (!Array.isArray(node) || list === undefined) return undefined;
      node = node[findItem(list, node, step.key as Obj)];
    }
    seen.push(step);
    if (node === undefined) return undefined;
  }
  return node;
}

/**
 * Removes a field or list-map item. A map left empty goes too, as Go's
 * `omitempty` leaves it out of every answer (`labels` after the last label).
 */
function removeAt(obj: Obj, steps: readonly Step[]): void {
  const last = steps.at(-1);
  if (last === undefined) return;
  const parent = getAt(obj, steps.slice(0, -1));
  if ("field" in last) {
    if (!isObj(parent)) return;
    delete parent[last.field];
    if (Object.keys(parent).length === 0 && steps.length > 1 && "field" in (steps.at(-2) ?? {})) {
      removeAt(obj, steps.slice(0, -1));
    }
    return;
  }
  const list = LIST_MAPS.get(schemaPath(steps));
  if (!Array.isArray(parent) || list === undefined) return;
  const i = findItem(list, parent, last.key as Obj);
  if (i >= 0) parent.splice(i, 1);
}

/** The configuration merged into the live value at `path` (member names joined by dots). */
function merge(live: unknown, config: unknown, path: string): unknown {
  const list = LIST_MAPS.get(path);
  if (Array.isArray(config) && list !== undefined) {
    const out = Array.isArray(live) ? [...live] : [];
    for (const item of config) {
      if (!isObj(item)) continue;
      const key = itemKey(list, item);
      const i = typeof key === "string" ? -1 : findItem(list, out, key);
      if (i >= 0) out[i] = merge(out[i], item, path);
      else out.push(structuredClone(item));
    }
    return out;
  }
  if (isObj(config) && isObj(live) && !ATOMIC_MAPS.has(path)) {
    const out: Obj = { ...live };
    for (const [k, v] of Object.entries(config)) out[k] = merge(live[k], v, path === "" ? k : `${path}.${k}`);
    return out;
  }
  return structuredClone(config);
}

/** `.spec.ports[port=80,protocol="TCP"].name`, as the real server names a conflicting field. */
function describePath(key: string): string {
  return stepsOf(key)
    .map((s) =>
      "field" in s
        ? `.${s.field}`
        : `[${Object.entries(s.key)
            .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
            .join(",")}]`,
    )
    .join("");
}

function entriesOf(obj: Obj | undefined): ManagedFieldsEntry[] {
  const meta = obj?.metadata;
  const list = isObj(meta) ? meta.managedFields : undefined;
  return Array.isArray(list) ? (list.filter(isObj) as unknown as ManagedFieldsEntry[]) : [];
}

/**
 * Applies `config` as `manager` to `live` (undefined: the object is created).
 * Returns the object to store, with its managedFields updated.
 */
export function serverSideApply(
  live: Obj | undefined,
  config: Obj,
  manager: string,
  force: boolean,
  now: string,
): ApplyResult {
  const applied = fieldsOf(config);
  if (typeof applied === "string") return { ok: false, code: 422, message: applied };
  const entries = entriesOf(live).map((e) => ({ entry: e, paths: fromFieldsV1(e.fieldsV1) }));
  const mine = entries.find((e) => e.entry.manager === manager && e.entry.operation === "Apply");
  const others = entries.filter((e) => e !== mine);

  const conflicts: { owner: (typeof others)[number]; path: string }[] = [];
  for (const path of applied) {
    const steps = stepsOf(path);
    // An item as a whole is shared by whoever owns its fields; only the fields can conflict.
    if ("key" in (steps.at(-1) ?? { field: "" })) continue;
    const value = getAt(config, steps);
    for (const owner of others) {
      if (owner.paths.has(path) && !same(getAt(live, steps), value)) conflicts.push({ owner, path });
    }
  }
  if (conflicts.length > 0 && !force) {
    return {
      ok: false,
      code: 409,
      conflicts: conflicts.map((c) => ({ manager: c.owner.entry.manager, field: describePath(c.path) })),
    };
  }
  for (const c of conflicts) c.owner.paths.delete(c.path);

  const base: Obj = structuredClone(live ?? {});
  // Shallowest first: a list-map item goes as a whole, before its key fields are gone from it.
  const released = [...(mine?.paths ?? [])]
    .filter((p) => !applied.has(p) && !others.some((o) => o.paths.has(p)))
    .sort((a, b) => a.split(SEP).length - b.split(SEP).length);
  for (const path of released) removeAt(base, stepsOf(path));
  const merged = merge(base, config, "") as Obj;

  const unchanged =
    live !== undefined &&
    conflicts.length === 0 &&
    mine !== undefined &&
    mine.paths.size === applied.size &&
    [...applied].every((p) => mine.paths.has(p)) &&
    same(withoutManagedFields(live), withoutManagedFields(merged));
  const mineNext: ManagedFieldsEntry =
    unchanged && mine !== undefined
      ? mine.entry
      : {
          manager,
          operation: "Apply",
          apiVersion: typeof config.apiVersion === "string" ? config.apiVersion : "",
          time: now,
          fieldsType: "FieldsV1",
          fieldsV1: toFieldsV1(applied),
        };
  // In their order, so an apply that changes nothing changes no entry either.
  const nextEntries: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    if (e === mine) nextEntries.push(mineNext);
    else if (e.paths.size === 0) continue;
    else if (conflicts.some((c) => c.owner === e))
      nextEntries.push({ ...e.entry, fieldsV1: toFieldsV1(e.paths) });
    else nextEntries.push(e.entry);
  }
  if (mine === undefined) nextEntries.push(mineNext);
  const metadata = isObj(merged.metadata) ? merged.metadata : {};
  return { ok: true, object: { ...merged, metadata: { ...metadata, managedFields: nextEntries } } };
}

function withoutManagedFields(obj: Obj): Obj {
  const meta = isObj(obj.metadata) ? obj.metadata : {};
  const { managedFields: _m, resourceVersion: _rv, ...rest } = meta;
  return { ...obj, metadata: rest };
}
