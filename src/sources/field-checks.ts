/**
 * Checks at ingestion of the fields the pipeline reads that the schemas leave
 * open (an EndpointSlice address is any string to the schema, `""` included).
 * The API server makes the same checks in a cluster; a watched folder has no
 * API server, so strait makes them here, with the field's path in the
 * diagnostic. A bad endpoint address is dropped alone (the slice's other
 * endpoints are kept); a value the API server would refuse the object for
 * (Secret data that is not base64) refuses the object.
 */
import { isIPv4, isIPv6 } from "node:net";
import type { KindName } from "../resources/kinds.ts";

export interface FieldProblem {
  readonly severity: "error" | "warning";
  readonly path: string;
  readonly message: string;
}

export interface FieldCheckResult {
  /** The object to store (bad endpoint addresses removed), or undefined when it is refused. */
  readonly object: Record<string, unknown> | undefined;
  readonly problems: readonly FieldProblem[];
}

type Json = Record<string, unknown>;

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function addressValid(addressType: unknown, address: unknown): boolean {
  if (typeof address !== "string") return false;
  if (addressType === "IPv4") return isIPv4(address);
  if (addressType === "IPv6") return isIPv6(address);
  // FQDN slices: strait does not resolve them, but a name is still checked for shape.
  return /^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(address);
}

function checkEndpointSlice(obj: Json): FieldCheckResult {
  const problems: FieldProblem[] = [];
  const endpoints = Array.isArray(obj.endpoints) ? (obj.endpoints as Json[]) : [];
  // The API server's limits: 1,000 endpoints per slice, 100 addresses per endpoint.
  if (endpoints.length > 1000)
    return {
      object: undefined,
      problems: [
        {
          severity: "error",
          path: "endpoints",
          message: `${endpoints.length} endpoints; a slice holds at most 1000`,
        },
      ],
    };
  let changed = false;
  const kept = endpoints.map((ep, i) => {
    const addresses = Array.isArray(ep.addresses) ? ep.addresses : [];
    const good = addresses.filter((address, j) => {
      if (addressValid(obj.addressType, address)) return true;
      problems.push({
        severity: "warning",
        path: `endpoints[${i}].addresses[${j}]`,
        message: `${JSON.stringify(address)} is not a valid ${String(obj.addressType)} address; this address is left out, the slice's other endpoints are used`,
      });
      return false;
    });
    if (good.length === addresses.length) return ep;
    changed = true;
    return { ...ep, addresses: good };
  });
  const ports = Array.isArray(obj.ports) ? (obj.ports as Json[]) : [];
  ports.forEach((p, i) => {
    if (
      p.port !== undefined &&
      !(Number.isInteger(p.port) && (p.port as number) >= 1 && (p.port as number) <= 65535)
    )
      problems.push({
        severity: "error",
        path: `ports[${i}].port`,
        message: `${String(p.port)} is not a port (1-65535)`,
      });
  });
  if (problems.some((p) => p.severity === "error")) return { object: undefined, problems };
  return { object: changed ? { ...obj, endpoints: kept } : obj, problems };
}

function checkService(obj: Json): FieldCheckResult {
  const problems: FieldProblem[] = [];
  const ports = Array.isArray((obj.spec as Json | undefined)?.ports)
    ? ((obj.spec as Json).ports as Json[])
    : [];
  ports.forEach((p, i) => {
    if (!(Number.isInteger(p.port) && (p.port as number) >= 1 && (p.port as number) <= 65535))
      problems.push({
        severity: "error",
        path: `spec.ports[${i}].port`,
        message: `${String(p.port)} is not a port (1-65535)`,
      });
    const target = p.targetPort;
    if (
      target !== undefined &&
      !(typeof target === "number" && Number.isInteger(target) && target >= 1 && target <= 65535) &&
      !(
        typeof target === "string" &&
        /^(?=.{1,15}$)[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(target) &&
        /[a-z]/.test(target)
      )
    )
      problems.push({
        severity: "error",
        path: `spec.ports[${i}].targetPort`,
        message: `${JSON.stringify(target)} is neither a port (1-65535) nor a port name`,
      });
  });
  return { object: problems.length === 0 ? obj : undefined, problems };
}

function checkSecret(obj: Json): FieldCheckResult {
  const problems: FieldProblem[] = [];
  const data = obj.data;
  if (data !== null && typeof data === "object") {
    for (const [key, value] of Object.entries(data as Json)) {
      if (typeof value !== "string" || !BASE64.test(value.replace(/\s+/g, "")))
        problems.push({ severity: "error", path: `data.${key}`, message: "is not base64" });
    }
  }
  return { object: problems.length === 0 ? obj : undefined, problems };
}

/** The checks for one object of a kind strait reads (after its schema check passed). */
export function checkFields(kind: KindName, obj: Json): FieldCheckResult {
  switch (kind) {
    case "EndpointSlice":
      return checkEndpointSlice(obj);
    case "Service":
      return checkService(obj);
    case "Secret":
      return checkSecret(obj);
    default:
      return { object: obj, problems: [] };
  }
}
