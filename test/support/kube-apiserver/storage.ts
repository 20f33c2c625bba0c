/**
 * The test API server's storage: objects per resource, one monotonically
 * increasing resourceVersion across all of them (as etcd's revision), and a
 * bounded history of change events for watches to resume from. Compaction
 * drops the history, after which a watch from an older resourceVersion gets
 * 410 Gone, exactly as it does on a real server.
 */
import { randomUUID } from "node:crypto";
import { clone } from "./json.ts";
import { apiVersionOfResource, resourceKey, type ServedResource } from "./resources.ts";

export interface ApiObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace?: string | undefined;
    uid?: string | undefined;
    resourceVersion?: string | undefined;
    generation?: number | undefined;
    creationTimestamp?: string | undefined;
    [field: string]: unknown;
  };
  [field: string]: unknown;
}

export type EventType = "ADDED" | "MODIFIED" | "DELETED";

export interface ChangeEvent {
  readonly rv: number;
  readonly type: EventType;
  readonly resource: ServedResource;
  /** The object as of this change (for DELETED: its last state, with the deletion's resourceVersion). */
  readonly object: ApiObject;
}

export type WriteResult =
  | { readonly ok: true; readonly object: ApiObject; readonly changed: boolean }
  | { readonly ok: false; readonly code: 404 | 409; readonly reason: string; readonly message: string };

function keyOf(namespace: string | undefined, name: string): string {
  return `${namespace ?? ""}/${name}`;
}

function specOf(obj: ApiObject): string {
  const { metadata: _m, status: _s, ...rest } = obj;
  return JSON.stringify(rest);
}

export class ObjectStorage {
  #rv = 1000;
  /** Watches from a resourceVersion older than this get 410 Gone. */
  #compactedRv = 0;
  readonly #objects = new Map<string, Map<string, ApiObject>>();
  #history: ChangeEvent[] = [];
  readonly #listeners = new Set<(event: ChangeEvent) => void>();

  get resourceVersion(): number {
    return this.#rv;
  }

  get compactedResourceVersion(): number {
    return this.#compactedRv;
  }

  subscribe(listener: (event: ChangeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  list(resource: ServedResource, namespace?: string): ApiObject[] {
    const all = [...(this.#objects.get(resourceKey(resource))?.values() ?? [])];
    return all
      .filter((o) => namespace === undefined || o.metadata.namespace === namespace)
      .sort((a, b) =>
        keyOf(a.metadata.namespace, a.metadata.name).localeCompare(
          keyOf(b.metadata.namespace, b.metadata.name),
        ),
      )
      .map((o) => clone(o));
  }

  get(resource: ServedResource, namespace: string | undefined, name: string): ApiObject | undefined {
    const obj = this.#objects.get(resourceKey(resource))?.get(keyOf(namespace, name));
    return obj === undefined ? undefined : clone(obj);
  }

  create(resource: ServedResource, input: ApiObject): WriteResult {
    const map = this.#mapOf(resource);
    const key = keyOf(input.metadata.namespace, input.metadata.name);
    if (map.has(key)) {
      return {
        ok: false,
        code: 409,
        reason: "AlreadyExists",
        message: `${resource.plural}.${resource.group} "${input.metadata.name}" already exists`,
      };
    }
    const rv = ++this.#rv;
    const obj: ApiObject = {
      ...clone(input),
      apiVersion: apiVersionOfResource(resource),
      kind: resource.kind,
      metadata: {
        ...clone(input.metadata),
        uid: randomUUID(),
        resourceVersion: String(rv),
        generation: 1,
        creationTimestamp: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
      },
    };
    map.set(key, obj);
    this.#record({ rv, type: "ADDED", resource, object: clone(obj) });
    return { ok: true, object: clone(obj), changed: true };
  }

  /**
   * Replaces an object's spec (everything but status and server-owned metadata).
   * With `status: "replace"` the status is taken from the input too (for resources
   * without a status subresource, such as Leases); otherwise it is kept.
   * A resourceVersion in the input is a precondition: a stale one is a 409 Conflict.
   */
  update(resource: ServedResource, input: ApiObject, status: "keep" | "replace" = "keep"): WriteResult {
    const map = this.#mapOf(resource);
    const key = keyOf(input.metadata.namespace, input.metadata.name);
    const current = map.get(key);
    if (current === undefined) return notFound(resource, input.metadata.name);
    const precondition = input.metadata.resourceVersion;
    if (
      precondition !== undefined &&
      precondition !== "" &&
      precondition !== current.metadata.resourceVersion
    ) {
      return conflict(resource, input.metadata.name);
    }
    const next: ApiObject = {
      ...clone(input),
      apiVersion: current.apiVersion,
      kind: current.kind,
      metadata: {
        ...clone(input.metadata),
        uid: current.metadata.uid,
        creationTimestamp: current.metadata.creationTimestamp,
        generation: (current.metadata.generation ?? 1) + (specOf(current) === specOf(input) ? 0 : 1),
        resourceVersion: current.metadata.resourceVersion,
      },
    };
    if (status === "keep") {
      delete next.status;
      if (current.status !== undefined) next.status = clone(current.status);
    }
    return this.#replace(resource, map, key, current, next);
  }

  /** Writes only `.status` (the status subresource); everything else in `next` is ignored. */
  updateStatus(
    resource: ServedResource,
    namespace: string | undefined,
    name: string,
    status: unknown,
    precondition?: string,
  ): WriteResult {
    const map = this.#mapOf(resource);
    const key = keyOf(namespace, name);
    const current = map.get(key);
    if (current === undefined) return notFound(resource, name);
    if (precondition !== undefined && precondition !== current.metadata.resourceVersion) {
      return conflict(resource, name);
    }
    const next: ApiObject = { ...clone(current) };
    if (status === undefined) delete next.status;
    else next.status = clone(status);
    return this.#replace(resource, map, key, current, next);
  }

  /** Deletes an object; `preconditions` (DeleteOptions) must match it, else 409 Conflict. */
  delete(
    resource: ServedResource,
    namespace: string | undefined,
    name: string,
    preconditions: { readonly uid?: string; readonly resourceVersion?: string } = {},
  ): WriteResult {
    const map = this.#mapOf(resource);
    const key = keyOf(namespace, name);
    const current = map.get(key);
    if (current === undefined) return notFound(resource, name);
    const failed =
      preconditions.uid !== undefined && preconditions.uid !== current.metadata.uid
        ? `UID in precondition: ${preconditions.uid}, UID in object meta: ${current.metadata.uid}`
        : preconditions.resourceVersion !== undefined &&
            preconditions.resourceVersion !== current.metadata.resourceVersion
          ? `ResourceVersion in precondition: ${preconditions.resourceVersion}, ResourceVersion in object meta: ${current.metadata.resourceVersion}`
          : undefined;
    if (failed !== undefined) return conflict(resource, name, `Precondition failed: ${failed}`);
    map.delete(key);
    const rv = ++this.#rv;
    const last = { ...clone(current), metadata: { ...clone(current.metadata), resourceVersion: String(rv) } };
    this.#record({ rv, type: "DELETED", resource, object: last });
    return { ok: true, object: clone(last), changed: true };
  }

  /**
   * Events of a resource after `rv`, or "expired" when the history no longer
   * reaches back that far.
   */
  eventsSince(resource: ServedResource, rv: number): ChangeEvent[] | "expired" {
    if (rv < this.#compactedRv) return "expired";
    return this.#history.filter((e) => resourceKey(e.resource) === resourceKey(resource) && e.rv > rv);
  }

  /** Forgets the history up to now. Watches from any older resourceVersion now get 410. */
  compact(): void {
    this.#compactedRv = this.#rv;
    this.#history = [];
  }

  /** Advances the resourceVersion without a change to any object (other resources' writes). */
  bump(): number {
    return ++this.#rv;
  }

  #replace(
    resource: ServedResource,
    map: Map<string, ApiObject>,
    key: string,
    current: ApiObject,
    next: ApiObject,
  ): WriteResult {
    const comparable = (o: ApiObject) =>
      JSON.stringify({ ...o, metadata: { ...o.metadata, resourceVersion: "" } });
    // A write that changes nothing is a no-op on a real server too: no new resourceVersion, no event.
    if (comparable(current) === comparable(next)) return { ok: true, object: clone(current), changed: false };
    const rv = ++this.#rv;
    next.metadata.resourceVersion = String(rv);
    map.set(key, next);
    this.#record({ rv, type: "MODIFIED", resource, object: clone(next) });
    return { ok: true, object: clone(next), changed: true };
  }

  #record(event: ChangeEvent): void {
    this.#history.push(event);
    for (const listener of this.#listeners) listener(event);
  }

  #mapOf(resource: ServedResource): Map<string, ApiObject> {
    let map = this.#objects.get(resourceKey(resource));
    if (map === undefined) {
      map = new Map();
      this.#objects.set(resourceKey(resource), map);
    }
    return map;
  }
}

function notFound(resource: ServedResource, name: string): WriteResult {
  return {
    ok: false,
    code: 404,
    reason: "NotFound",
    message: `${resource.plural}${resource.group === "" ? "" : `.${resource.group}`} "${name}" not found`,
  };
}

function conflict(
  resource: ServedResource,
  name: string,
  why = "the object has been modified; please apply your changes to the latest version and try again",
): WriteResult {
  return {
    ok: false,
    code: 409,
    reason: "Conflict",
    message: `Operation cannot be fulfilled on ${resource.plural}${resource.group === "" ? "" : `.${resource.group}`} "${name}": ${why}`,
  };
}
