/**
 * What makes an object in the cluster one that strait owns, what strait sends
 * when it applies one, and when the live object already holds it.
 */
import { GATEWAY_NAME_LABEL } from "../../gateway/gateway-service.ts";
import type { KindName } from "../../resources/kinds.ts";

/** The kinds strait creates, and so deletes when no longer wanted (the chart grants exactly these). */
export const OWNED_KINDS = ["Service"] as const satisfies readonly KindName[];

export type OwnedKind = (typeof OWNED_KINDS)[number];

export const MANAGED_BY_LABEL = "app.kubernetes.io/managed-by";
export const MANAGED_BY = "strait";
/** The server-side apply field manager of every write of an owned object. */
export const FIELD_MANAGER = "strait";

/** An object the pipeline wants in the cluster (structurally, the gateway stage's OwnedObject). */
export interface DesiredObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations?: Readonly<Record<string, string>>;
    readonly ownerReferences?: readonly Readonly<Record<string, unknown>>[];
  };
  readonly spec?: Readonly<Record<string, unknown>>;
}

export function isOwnedKind(kind: string): kind is OwnedKind {
  return (OWNED_KINDS as readonly string[]).includes(kind);
}

/**
 * strait manages an object when it carries both strait's managed-by label and
 * the Gateway name label: the two labels every owned object is applied with.
 * An object without them was made by someone else, however it is named.
 */
export function isManagedByStrait(labels: Readonly<Record<string, string>> | undefined): boolean {
  return labels?.[MANAGED_BY_LABEL] === MANAGED_BY && labels[GATEWAY_NAME_LABEL] !== undefined;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isEmpty(v: unknown): boolean {
  return (
    v === undefined ||
    (Array.isArray(v) && v.length === 0) ||
    (isPlainObject(v) && Object.keys(v).length === 0)
  );
}

export interface ApplyBody {
  readonly body: Readonly<Record<string, unknown>>;
  /** Owner references left out because they have no uid. */
  readonly droppedOwnerReferences: number;
}

/**
 * The apply configuration of an object: what strait owns of it. Empty maps and
 * lists are left out: the server leaves them out of what it returns (Go's
 * `omitempty`), and an apply that sets an empty map would own a field nobody
 * can see.
 *
 * An owner reference without a uid is left out, and the object applied
 * without it: the API server refuses an empty uid (422), and the object is
 * still wanted (the Service is what makes its Gateway reachable). strait
 * deletes it by its labels once its Gateway is gone, so what is lost is only
 * the garbage collector's clean-up while strait itself is not running. In
 * cluster mode every Gateway in the store has a uid; this guards against a
 * source that does not set one.
 */
export function applyBody(obj: DesiredObject): ApplyBody {
  const { apiVersion, kind, metadata, ...rest } = obj;
  const refs = (metadata.ownerReferences ?? []).filter((r) => typeof r.uid === "string" && r.uid !== "");
  const meta: Record<string, unknown> = { name: metadata.name, namespace: metadata.namespace };
  if (!isEmpty(metadata.labels)) meta.labels = metadata.labels;
  if (!isEmpty(metadata.annotations)) meta.annotations = metadata.annotations;
  if (refs.length > 0) meta.ownerReferences = refs;
  const body: Record<string, unknown> = { apiVersion, kind, metadata: meta };
  for (const [key, value] of Object.entries(rest)) if (!isEmpty(value)) body[key] = value;
  return { body, droppedOwnerReferences: (metadata.ownerReferences?.length ?? 0) - refs.length };
}

/**
 * Whether the live object holds everything of `desired`: every member of an
 * object, every item of a list somewhere in the live list. What the server
 * adds (cluster IP, node ports, defaults) and what other clients add (labels,
 * annotations, more ports) does not count as a difference: strait owns only
 * the fields it applies. What it cannot see is a field strait applied before
 * and no longer does; the writer remembers its last apply for that.
 */
export function holds(live: unknown, desired: unknown): boolean {
  if (isEmpty(desired) && isEmpty(live)) return true;
  if (Array.isArray(desired)) {
    return Array.isArray(live) && desired.every((d) => live.some((l) => holds(l, d)));
  }
  if (isPlainObject(desired)) {
    // An absent object holds a desired one whose members are all empty.
    const from = isPlainObject(live) ? live : live === undefined ? {} : undefined;
    return from !== undefined && Object.entries(desired).every(([k, v]) => holds(from[k], v));
  }
  return live === desired;
}
