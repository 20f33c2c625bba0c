/**
 * The validation the test API server does on objects written over the wire:
 * the part of the real server's that strait's writes can run into, so a test
 * can see a malformed write refused with 422 Invalid as a cluster would refuse
 * it, with the real server's wording.
 */
import type { ApiObject } from "./storage.ts";

export interface FieldError {
  readonly field: string;
  readonly message: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const SERVICE_TYPES = ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"];

export function validateObject(obj: ApiObject): FieldError[] {
  const errors: FieldError[] = [];
  const refs = obj.metadata.ownerReferences;
  if (refs !== undefined) {
    for (const ref of Array.isArray(refs) ? refs : [refs]) {
      const r = isObj(ref) ? ref : {};
      // The wording of apimachinery's ValidateOwnerReferences.
      const required: [string, string][] = [
        ["apiVersion", "version"],
        ["kind", "kind"],
        ["name", "name"],
      ];
      for (const [field, what] of required) {
        if (typeof r[field] !== "string" || r[field] === "") {
          errors.push({
            field: `metadata.ownerReferences.${field}`,
            message: `Invalid value: "": ${what} must not be empty`,
          });
        }
      }
      if (typeof r.uid !== "string" || r.uid === "") {
        errors.push({
          field: "metadata.ownerReferences.uid",
          message: 'Invalid value: "": uid must not be empty',
        });
      }
    }
  }
  for (const field of ["labels", "annotations"] as const) {
    const map = obj.metadata[field];
    if (map === undefined) continue;
    if (!isObj(map) || Object.values(map).some((v) => typeof v !== "string")) {
      errors.push({ field: `metadata.${field}`, message: "Invalid value: the values must be strings" });
    }
  }
  if (obj.kind === "Service" && obj.apiVersion === "v1") errors.push(...validateService(obj));
  return errors;
}

function validateService(obj: ApiObject): FieldError[] {
  const errors: FieldError[] = [];
  const spec = isObj(obj.spec) ? obj.spec : {};
  if (spec.type !== undefined && !SERVICE_TYPES.includes(String(spec.type))) {
    errors.push({
      field: "spec.type",
      message: `Unsupported value: "${String(spec.type)}": supported values: ${SERVICE_TYPES.map((t) => `"${t}"`).join(", ")}`,
    });
  }
  const ports = Array.isArray(spec.ports) ? spec.ports : [];
  ports.forEach((p: unknown, i) => {
    const port = isObj(p) ? p.port : undefined;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535) {
      errors.push({
        field: `spec.ports[${i}].port`,
        message: `Invalid value: ${JSON.stringify(port ?? null)}: must be between 1 and 65535, inclusive`,
      });
    }
  });
  return errors;
}
