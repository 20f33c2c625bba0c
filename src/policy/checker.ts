/**
 * Reading an untyped policy object field by field, recording every problem
 * with its path (`spec.ingress[0].toPorts[1].ports[0].port`). Policies come
 * from the API or a folder of manifests: anything may be in them.
 */
import type { PolicyProblem } from "./rule.ts";

export type Obj = Readonly<Record<string, unknown>>;

export class Checker {
  readonly problems: PolicyProblem[] = [];

  fail(path: string, message: string): undefined {
    this.problems.push({ path, message });
    return undefined;
  }

  object(v: unknown, path: string): Obj | undefined {
    if (typeof v !== "object" || v === null || Array.isArray(v)) return this.fail(path, "must be an object");
    return v as Obj;
  }

  /** A list, or undefined when absent (`null` counts as absent, as in Go's JSON). */
  list(v: unknown, path: string): readonly unknown[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v)) return this.fail(path, "must be a list");
    return v;
  }

  string(v: unknown, path: string): string | undefined {
    if (typeof v !== "string") return this.fail(path, "must be a string");
    return v;
  }

  optionalString(v: unknown, path: string): string | undefined {
    return v === undefined || v === null ? undefined : this.string(v, path);
  }

  boolean(v: unknown, path: string): boolean | undefined {
    if (v === undefined || v === null) return undefined;
    if (typeof v !== "boolean") return this.fail(path, "must be true or false");
    return v;
  }

  /** Fields the policy language has that strait does not enforce: the policy is refused, never half-applied. */
  unsupported(o: Obj, path: string, fields: readonly string[], why: string): void {
    for (const f of fields) {
      const v = o[f];
      if (v === undefined || v === null) continue;
      if (Array.isArray(v) && v.length === 0) continue;
      this.fail(`${path}.${f}`, `not supported by strait: ${why}`);
    }
  }
}
