/**
 * Standalone status writing: statuses go into the store objects, as the
 * Kubernetes `/status` subresource would put them (lastTransitionTime kept
 * from the object while a condition holds), and they
 * are served on the local API (`GET /api/v1/statuses`) and, if asked, written
 * to a file after each change.
 */
import { writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { ERROR_CODES, StraitError } from "../../errors.ts";
import type { ObjectStatus } from "../../model/status.ts";
import { isKindName } from "../../resources/kinds.ts";
import type { AnyStoredObject } from "../../resources/objects.ts";
import type { ResourceStore } from "../store.ts";
import type { StatusWriter } from "./status-writer.ts";
import { carryTransitionTimes } from "./transition-times.ts";

export interface StatusEntry {
  readonly kind: string;
  readonly namespace?: string;
  readonly name: string;
  readonly status: Readonly<Record<string, unknown>>;
}

export class LocalStatusWriter implements StatusWriter {
  readonly #store: ResourceStore;
  readonly #file: string | undefined;
  #latest: readonly ObjectStatus[] = [];
  /**
   * Stored object → a status object known to equal its status. The pipeline
   * hands back the same status object for an unchanged route, so one
   * identity check settles most of them without serializing anything.
   */
  readonly #settled = new WeakMap<object, object>();

  constructor(store: ResourceStore, file?: string) {
    this.#store = store;
    this.#file = file;
  }

  async write(statuses: readonly ObjectStatus[]): Promise<number> {
    let written = 0;
    this.#latest = statuses.map((s) => {
      if (!isKindName(s.ref.kind)) return s;
      const current = this.#store.get(s.ref.kind, s.ref.namespace, s.ref.name) as
        | (AnyStoredObject & { status?: Record<string, unknown> })
        | undefined;
      if (current === undefined || current.status === s.status) return s;
      if (this.#settled.get(current) === s.status) return { ...s, status: current.status ?? {} };
      // Transition times of conditions that hold are the object's own (the pipeline stamps its clock).
      const status = carryTransitionTimes(current.status, s.status);
      if (JSON.stringify(current.status ?? {}) === JSON.stringify(status)) {
        this.#settled.set(current, s.status);
        return { ...s, status: current.status ?? {} };
      }
      this.#store.upsert(s.ref.kind, { ...current, status } as AnyStoredObject);
      written++;
      return { ...s, status };
    });
    if (written > 0 && this.#file !== undefined) {
      try {
        writeFileSync(this.#file, stringify(this.entries(), { lineWidth: 0 }));
      } catch (cause) {
        throw new StraitError(ERROR_CODES.IO_WRITE, `cannot write statuses to ${this.#file}`, { cause });
      }
    }
    return written;
  }

  /** Current statuses, optionally filtered, sorted by kind, namespace and name. */
  entries(filter: { kind?: string; namespace?: string; name?: string } = {}): StatusEntry[] {
    return this.#latest
      .filter(
        (s) =>
          (filter.kind === undefined || s.ref.kind === filter.kind) &&
          (filter.namespace === undefined || s.ref.namespace === filter.namespace) &&
          (filter.name === undefined || s.ref.name === filter.name),
      )
      .map((s) => ({
        kind: s.ref.kind,
        ...(s.ref.namespace === "" ? {} : { namespace: s.ref.namespace }),
        name: s.ref.name,
        status: s.status,
      }))
      .sort((a, b) =>
        `${a.kind}/${a.namespace ?? ""}/${a.name}`.localeCompare(`${b.kind}/${b.namespace ?? ""}/${b.name}`),
      );
  }
}
