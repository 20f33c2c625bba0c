/**
 * Writes of whole objects over the wire, as the real server handles them:
 * server-side apply (`PATCH` with `application/apply-patch+yaml`), merge
 * patches of the main resource, and the defaulting and validation every
 * written object goes through. Each returns the HTTP status and body to send.
 */
import { parse as parseYaml } from "yaml";
import { applyMergePatch } from "./json.ts";
import { apiVersionOfResource, type ServedResource } from "./resources.ts";
import { serverSideApply } from "./server-side-apply.ts";
import type { ServiceDefaulter } from "./service-defaults.ts";
import { type StatusBody, statusBody } from "./status.ts";
import type { ApiObject, ObjectStorage, WriteResult } from "./storage.ts";
import { type FieldError, validateObject } from "./validation.ts";

export interface WriteOutcome {
  readonly code: number;
  readonly payload: unknown;
}

export interface WriteContext {
  readonly storage: ObjectStorage;
  readonly services: ServiceDefaulter;
  readonly resource: ServedResource;
  readonly namespace: string | undefined;
  readonly name: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function isStatus(v: ApiObject | StatusBody): v is StatusBody {
  return v.kind === "Status" && v.apiVersion === "v1" && "code" in v;
}

function fail(body: StatusBody): WriteOutcome {
  return { code: body.code, payload: body };
}

/** 422 Invalid with one cause per field, worded as the real server words it. */
export function invalid(kind: string, name: string, errors: readonly FieldError[]): StatusBody {
  const each = errors.map((e) => `${e.field}: ${e.message}`);
  return statusBody(
    422,
    "Invalid",
    `${kind} "${name}" is invalid: ${each.length === 1 ? each[0] : `[${each.join(", ")}]`}`,
    {
      name,
      kind,
      causes: errors.map((e) => ({ reason: "FieldValueInvalid", message: e.message, field: e.field })),
    },
  );
}

/** The server's defaults (Services) and validation; a validation failure as the Status to send. */
export function prepareWrite(
  ctx: WriteContext,
  obj: ApiObject,
  previous: ApiObject | undefined,
): ApiObject | StatusBody {
  const defaulted =
    ctx.resource.group === "" && ctx.resource.kind === "Service" ? ctx.services.apply(obj, previous) : obj;
  const errors = validateObject(defaulted);
  return errors.length > 0 ? invalid(ctx.resource.kind, ctx.name, errors) : defaulted;
}

function outcome(ctx: WriteContext, result: WriteResult, okCode: number): WriteOutcome {
  if (!result.ok) return fail(statusBody(result.code, result.reason, result.message));
  return {
    code: okCode,
    payload: { ...result.object, apiVersion: apiVersionOfResource(ctx.resource), kind: ctx.resource.kind },
  };
}

/** `PATCH` with `application/apply-patch+yaml`: creates the object when absent, else merges it. */
export function applyPatch(
  ctx: WriteContext,
  text: string,
  query: Readonly<Record<string, string>>,
): WriteOutcome {
  const manager = query.fieldManager ?? "";
  if (manager === "") {
    return fail(
      invalid("PatchOptions.meta.k8s.io", "", [
        { field: "fieldManager", message: "Required value: is required for apply patch" },
      ]),
    );
  }
  let config: unknown;
  try {
    config = parseYaml(text);
  } catch (error) {
    return fail(statusBody(400, "BadRequest", `error decoding YAML: ${String(error)}`));
  }
  if (!isObj(config)) return fail(statusBody(400, "BadRequest", "error decoding YAML: not an object"));
  const expected = apiVersionOfResource(ctx.resource);
  if (config.apiVersion !== expected || config.kind !== ctx.resource.kind) {
    return fail(
      statusBody(
        400,
        "BadRequest",
        `Incorrect version specified in apply patch. Specified patch version: ${String(config.apiVersion)}, expected: ${expected}`,
      ),
    );
  }
  const meta = isObj(config.metadata) ? config.metadata : {};
  if (meta.name !== undefined && meta.name !== ctx.name) {
    return fail(
      statusBody(
        400,
        "BadRequest",
        `the name of the object (${String(meta.name)}) does not match the name on the URL (${ctx.name})`,
      ),
    );
  }
  if (meta.namespace !== undefined && meta.namespace !== ctx.namespace) {
    return fail(
      statusBody(
        400,
        "BadRequest",
        "the namespace of the provided object does not match the namespace sent on the request",
      ),
    );
  }
  const live = ctx.storage.get(ctx.resource, ctx.namespace, ctx.name);
  const precondition = meta.resourceVersion;
  if (
    live !== undefined &&
    typeof precondition === "string" &&
    precondition !== live.metadata.resourceVersion
  ) {
    return fail(
      statusBody(
        409,
        "Conflict",
        `Operation cannot be fulfilled on ${ctx.resource.plural} "${ctx.name}": the object has been modified; please apply your changes to the latest version and try again`,
      ),
    );
  }
  // The status of an object with a status subresource is not written through the main resource.
  const { status: _status, ...spec } = config;
  const result = serverSideApply(
    live,
    {
      ...spec,
      metadata: {
        ...meta,
        name: ctx.name,
        ...(ctx.namespace === undefined ? {} : { namespace: ctx.namespace }),
      },
    },
    manager,
    query.force === "true",
    new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
  );
  if (!result.ok && result.code === 409) {
    const n = result.conflicts.length;
    const lines = result.conflicts.map((c) => `conflict with "${c.manager}": ${c.field}`);
    return fail(
      statusBody(
        409,
        "Conflict",
        `Apply failed with ${n} conflict${n === 1 ? "" : "s"}: ${lines.join("\n")}`,
        {
          causes: result.conflicts.map((c) => ({
            reason: "FieldManagerConflict",
            message: `conflict with "${c.manager}"`,
            field: c.field,
          })),
        },
      ),
    );
  }
  if (!result.ok) return fail(statusBody(422, "Invalid", result.message));
  const prepared = prepareWrite(ctx, result.object as ApiObject, live);
  if (isStatus(prepared)) return fail(prepared);
  return live === undefined
    ? outcome(ctx, ctx.storage.create(ctx.resource, prepared), 201)
    : outcome(ctx, ctx.storage.update(ctx.resource, prepared), 200);
}

/** `PATCH` with `application/merge-patch+json` on the main resource: everything but the status. */
export function mergePatch(ctx: WriteContext, patch: unknown): WriteOutcome {
  if (!isObj(patch)) return fail(statusBody(400, "BadRequest", "the patch must be a JSON object"));
  const live = ctx.storage.get(ctx.resource, ctx.namespace, ctx.name);
  if (live === undefined) {
    return fail(statusBody(404, "NotFound", `${ctx.resource.plural} "${ctx.name}" not found`));
  }
  const prepared = prepareWrite(ctx, applyMergePatch(live, patch) as ApiObject, live);
  if (isStatus(prepared)) return fail(prepared);
  return outcome(ctx, ctx.storage.update(ctx.resource, prepared), 200);
}
