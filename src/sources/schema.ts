/**
 * Schema validation of incoming objects. Every kind strait reads is checked
 * against its upstream schema before it reaches the store:
 *
 * - by default, the schemas of the maintained model packages (kubernetes-models,
 *   @kubernetes-models/gateway-api, @kubernetes-models/cilium), generated from
 *   the upstream OpenAPI and CRD definitions;
 * - or, for the groups/versions/kinds a user supplies CRD files for
 *   (`--crds DIR`), the `openAPIV3Schema` of those CRDs, so strait checks
 *   exactly the Gateway API release installed in the cluster.
 *
 * CEL rules (`x-kubernetes-validations`) are not evaluated: the API server
 * does that in a cluster, and the controller re-checks what it relies on.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import * as ciliumV2 from "@kubernetes-models/cilium/cilium.io/v2";
import * as gwV1 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import * as gwV1alpha2 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha2";
import * as gwV1alpha3 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1alpha3";
import * as gwV1beta1 from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1beta1";
import { Ajv, type ErrorObject, type ValidateFunction } from "ajv";
import * as discoveryV1 from "kubernetes-models/discovery.k8s.io/v1";
import * as networkingV1 from "kubernetes-models/networking.k8s.io/v1";
import * as coreV1 from "kubernetes-models/v1";
import { parseAllDocuments } from "yaml";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { type KindName, parseApiVersion } from "../resources/kinds.ts";

/** One schema violation: where in the object, and what is wrong. */
export interface SchemaViolation {
  /** JSON-pointer-like path of the failing field, e.g. `spec.rules[0].matches[0].path.type`. */
  readonly path: string;
  readonly message: string;
}

interface ModelClass {
  new (data: unknown): { validate(): void };
  readonly prototype: { validate(this: unknown): void };
}

type ModelModule = Record<string, unknown>;

/** Served versions of each kind and the model module that holds them. */
const MODEL_MODULES: Record<KindName, Record<string, ModelModule>> = {
  GatewayClass: { v1: gwV1, v1beta1: gwV1beta1 },
  Gateway: { v1: gwV1, v1beta1: gwV1beta1 },
  HTTPRoute: { v1: gwV1, v1beta1: gwV1beta1 },
  GRPCRoute: { v1: gwV1, v1alpha2: gwV1alpha2 },
  ListenerSet: { v1: gwV1 },
  TLSRoute: { v1: gwV1, v1alpha2: gwV1alpha2, v1alpha3: gwV1alpha3 },
  ReferenceGrant: { v1: gwV1, v1beta1: gwV1beta1, v1alpha2: gwV1alpha2 },
  BackendTLSPolicy: { v1: gwV1, v1alpha3: gwV1alpha3 },
  Ingress: { v1: networkingV1 },
  IngressClass: { v1: networkingV1 },
  Service: { v1: coreV1 },
  EndpointSlice: { v1: discoveryV1 },
  Secret: { v1: coreV1 },
  ConfigMap: { v1: coreV1 },
  Namespace: { v1: coreV1 },
  Pod: { v1: coreV1 },
  Node: { v1: coreV1 },
  CiliumNetworkPolicy: { v2: ciliumV2 },
  CiliumClusterwideNetworkPolicy: { v2: ciliumV2 },
  CiliumIdentity: { v2: ciliumV2 },
};

export type SchemaCheck = (kind: KindName, obj: Record<string, unknown>) => readonly SchemaViolation[];

/** Versions of a kind strait accepts (the ones the upstream CRDs serve). */
export function servedVersions(kind: KindName): readonly string[] {
  return Object.keys(MODEL_MODULES[kind]);
}

function formatPath(instancePath: string, error: ErrorObject): string {
  const parts = instancePath
    .split("/")
    .slice(1)
    .map((p) => p.replace(/~1/g, "/").replace(/~0/g, "~"));
  if (error.keyword === "required" && typeof error.params.missingProperty === "string") {
    parts.push(error.params.missingProperty);
  }
  if (error.keyword === "additionalProperties" && typeof error.params.additionalProperty === "string") {
    parts.push(error.params.additionalProperty);
  }
  let out = "";
  for (const p of parts) out += /^\d+$/.test(p) ? `[${p}]` : out === "" ? p : `.${p}`;
  return out === "" ? "(root)" : out;
}

function violationsOf(errors: readonly ErrorObject[] | null | undefined): SchemaViolation[] {
  const seen = new Set<string>();
  const out: SchemaViolation[] = [];
  for (const e of errors ?? []) {
    const path = formatPath(e.instancePath, e);
    let message = e.message ?? e.keyword;
    if (e.keyword === "enum" && Array.isArray(e.params.allowedValues)) {
      message += `: ${(e.params.allowedValues as unknown[]).map(String).join(", ")}`;
    }
    const key = `${path}: ${message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ path, message });
  }
  return out;
}

/** Validation with the model packages' schemas. */
export function packagedSchemaCheck(
  kind: KindName,
  obj: Record<string, unknown>,
): readonly SchemaViolation[] {
  const apiVersion = typeof obj.apiVersion === "string" ? obj.apiVersion : "";
  const { version } = parseApiVersion(apiVersion);
  const module = MODEL_MODULES[kind][version];
  if (module === undefined) {
    return [
      {
        path: "apiVersion",
        message: `version ${version} of ${kind} is not served; use one of ${servedVersions(kind).join(", ")}`,
      },
    ];
  }
  const cls = module[kind] as ModelClass | undefined;
  if (cls === undefined) return [{ path: "kind", message: `no schema for ${kind} ${apiVersion}` }];
  try {
    // The model's validator run on the object itself: `new cls(obj)` would first copy the whole
    // object only to drop undefined values, which parsed manifests and API objects never hold.
    cls.prototype.validate.call(obj);
    return [];
  } catch (error) {
    const errors = (error as { errors?: ErrorObject[] }).errors;
    if (Array.isArray(errors)) return violationsOf(errors);
    return [{ path: "(root)", message: error instanceof Error ? error.message : String(error) }];
  }
}

/** Removes the Kubernetes extensions Ajv does not know, keeping the structural schema. */
export function toJsonSchema(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(toJsonSchema);
  if (schema === null || typeof schema !== "object") return schema;
  const out: Record<string, unknown> = {};
  const src = schema as Record<string, unknown>;
  for (const [key, value] of Object.entries(src)) {
    if (key.startsWith("x-kubernetes-")) continue;
    if (key === "properties" && value !== null && typeof value === "object") {
      const props: Record<string, unknown> = {};
      for (const [name, sub] of Object.entries(value)) props[name] = toJsonSchema(sub);
      out.properties = props;
      continue;
    }
    out[key] = toJsonSchema(value);
  }
  if (src["x-kubernetes-int-or-string"] === true) {
    delete out.type;
    out.anyOf = [{ type: "integer" }, { type: "string" }];
  }
  if (src.nullable === true && typeof out.type === "string") {
    out.type = [out.type, "null"];
  }
  delete out.nullable;
  return out;
}

/**
 * Reads the CRDs in the given files or folders and returns a check that uses
 * their schemas for the kinds they define, and the packaged schemas otherwise.
 */
export function crdSchemaCheck(paths: readonly string[]): SchemaCheck {
  // useDefaults: the API server applies schema defaults before validating, and some schemas
  // (Gateway addresses) only validate once defaults are in.
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false, useDefaults: true });
  const validators = new Map<string, ValidateFunction>();
  for (const file of listFiles(paths)) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (cause) {
      throw new StraitError(ERROR_CODES.IO_READ, `cannot read CRD file ${file}`, { cause });
    }
    for (const doc of parseAllDocuments(text)) {
      const crd = doc.toJS() as {
        kind?: string;
        spec?: {
          group?: string;
          names?: { kind?: string };
          versions?: { name: string; served?: boolean; schema?: { openAPIV3Schema?: unknown } }[];
        };
      } | null;
      if (crd?.kind !== "CustomResourceDefinition" || crd.spec === undefined) continue;
      for (const v of crd.spec.versions ?? []) {
        if (v.served === false || v.schema?.openAPIV3Schema === undefined) continue;
        const key = `${crd.spec.group}/${v.name}/${crd.spec.names?.kind}`;
        validators.set(key, ajv.compile(toJsonSchema(v.schema.openAPIV3Schema) as object));
      }
    }
  }
  if (validators.size === 0) {
    throw new StraitError(ERROR_CODES.CONFIG, `no CustomResourceDefinition found in ${paths.join(", ")}`);
  }
  return (kind, obj) => {
    const { group, version } = parseApiVersion(typeof obj.apiVersion === "string" ? obj.apiVersion : "");
    const validate = validators.get(`${group}/${version}/${kind}`);
    if (validate === undefined) return packagedSchemaCheck(kind, obj);
    // The first pass fills in defaults (keyword order can put a check before a default); the second judges.
    validate(obj);
    return validate(obj) ? [] : violationsOf(validate.errors);
  };
}

function listFiles(paths: readonly string[]): string[] {
  const out: string[] = [];
  for (const p of paths) {
    if (statSync(p).isDirectory()) {
      for (const entry of readdirSync(p, { recursive: true, encoding: "utf8" }).sort()) {
        if (/\.(ya?ml|json)$/.test(entry)) out.push(join(p, entry));
      }
    } else {
      out.push(p);
    }
  }
  return out;
}
