/**
 * Security identities recorded in the API as Cilium records them: one
 * cluster-scoped `cilium.io/v2` CiliumIdentity per workload identity, named by
 * its number, its label set in `security-labels` (`source:key` → value, the
 * source of truth), its Kubernetes labels copied onto `metadata.labels` where
 * they are valid there (so `kubectl get ciliumid -l app=web` works, as on
 * Cilium). The leader writes them; every replica, and the leader after a
 * restart, reads them back as the allocation's records, so a label set keeps
 * its number across restarts and is numbered alike on every replica.
 *
 * strait marks what it wrote with an annotation (not a label: a pod's own
 * labels are copied onto metadata.labels, and could carry any key). It reads
 * every CiliumIdentity, whoever wrote it (numbers Cilium's operator allocated
 * are kept, e.g. while migrating), but changes and deletes only its own.
 *
 * CIDR identities are node-local in Cilium (never a CiliumIdentity); strait
 * does the same and keeps them in the controller's memory between passes.
 */

import { FIRST_WORKLOAD_IDENTITY } from "../model/endpoint-policy.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import { type IdentityRecord, LAST_WORKLOAD_IDENTITY } from "./identities.ts";
import { formatLabel, parseLabel, SOURCE } from "./labels.ts";

export const CILIUM_IDENTITY_API_VERSION = "cilium.io/v2";
/** Marks a CiliumIdentity strait wrote: the only ones it changes or deletes. */
export const IDENTITY_MANAGED_BY_ANNOTATION = "strait.dev/managed-by";
export const IDENTITY_MANAGED_BY = "strait";
/** RFC 3339: since when no pod has the identity; the leader deletes it a grace period later. */
export const IDENTITY_UNUSED_SINCE_ANNOTATION = "strait.dev/unused-since";

/** A CiliumIdentity as strait writes it. */
export interface CiliumIdentityObject {
  readonly apiVersion: typeof CILIUM_IDENTITY_API_VERSION;
  readonly kind: "CiliumIdentity";
  readonly metadata: {
    readonly name: string;
    readonly labels?: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
  };
  readonly "security-labels": Readonly<Record<string, string>>;
}

const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** Whether `key: value` is a valid Kubernetes label (apimachinery's IsQualifiedName / IsValidLabelValue). */
function isValidLabel(key: string, value: string): boolean {
  const parts = key.split("/");
  if (parts.length > 2) return false;
  const name = parts[parts.length - 1] ?? "";
  if (!NAME.test(name)) return false;
  if (parts.length === 2) {
    const prefix = parts[0] ?? "";
    if (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix)) return false;
  }
  return value === "" || NAME.test(value);
}

/** Whether strait wrote this CiliumIdentity (its annotation). */
export function isStraitIdentity(annotations: Readonly<Record<string, string>> | undefined): boolean {
  return annotations?.[IDENTITY_MANAGED_BY_ANNOTATION] === IDENTITY_MANAGED_BY;
}

/** The CiliumIdentity objects of a pass's records: the workload identities (CIDR ones stay local). */
export function identityObjects(records: readonly IdentityRecord[]): CiliumIdentityObject[] {
  const out: CiliumIdentityObject[] = [];
  for (const record of records) {
    if (record.kind !== "workload") continue;
    const security: Record<string, string> = {};
    const labels: Record<string, string> = {};
    for (const text of record.labels) {
      const label = parseLabel(text);
      security[`${label.source}:${label.key}`] = label.value;
      if (label.source === SOURCE.k8s && isValidLabel(label.key, label.value))
        labels[label.key] = label.value;
    }
    const annotations: Record<string, string> = { [IDENTITY_MANAGED_BY_ANNOTATION]: IDENTITY_MANAGED_BY };
    if (record.unusedSince !== undefined) annotations[IDENTITY_UNUSED_SINCE_ANNOTATION] = record.unusedSince;
    out.push({
      apiVersion: CILIUM_IDENTITY_API_VERSION,
      kind: "CiliumIdentity",
      metadata: {
        name: String(record.id),
        ...(Object.keys(labels).length === 0 ? {} : { labels }),
        annotations,
      },
      "security-labels": security,
    });
  }
  return out;
}

export interface IdentityObjectProblem {
  readonly ref: ResourceRef;
  readonly message: string;
}

interface LiveIdentity {
  readonly metadata: { readonly name: string; readonly annotations?: Readonly<Record<string, string>> };
  readonly "security-labels"?: unknown;
}

function recordOf(obj: LiveIdentity): IdentityRecord | string {
  const { name, annotations } = obj.metadata;
  if (!/^[1-9][0-9]*$/.test(name)) return "the name is not an identity number";
  const id = Number(name);
  if (id < FIRST_WORKLOAD_IDENTITY || id > LAST_WORKLOAD_IDENTITY) {
    return `identity ${id} is outside the cluster-wide range ${FIRST_WORKLOAD_IDENTITY}..${LAST_WORKLOAD_IDENTITY}`;
  }
  const security = obj["security-labels"];
  if (typeof security !== "object" || security === null || Array.isArray(security)) {
    return "security-labels is missing";
  }
  const labels: string[] = [];
  for (const [key, value] of Object.entries(security)) {
    const colon = key.indexOf(":");
    if (colon <= 0 || colon === key.length - 1) return `security label "${key}" has no source:key form`;
    if (typeof value !== "string") return `security label "${key}" has a value that is not a string`;
    labels.push(formatLabel(parseLabel(value === "" ? key : `${key}=${value}`)));
  }
  if (labels.length === 0) return "security-labels is empty";
  labels.sort();
  const since = annotations?.[IDENTITY_UNUSED_SINCE_ANNOTATION];
  const unusedSince = since !== undefined && !Number.isNaN(Date.parse(since)) ? since : undefined;
  return { id, kind: "workload", labels, ...(unusedSince === undefined ? {} : { unusedSince }) };
}

/**
 * The records the API holds. A malformed CiliumIdentity is left out with a
 * problem (its number stays free for the allocation only if nothing valid
 * claims it); it never stops the others being read.
 */
export function identityRecordsOf(objects: readonly unknown[]): {
  readonly records: readonly IdentityRecord[];
  readonly problems: readonly IdentityObjectProblem[];
} {
  const records: IdentityRecord[] = [];
  const problems: IdentityObjectProblem[] = [];
  for (const obj of objects as readonly LiveIdentity[]) {
    const result = recordOf(obj);
    if (typeof result === "string") {
      const ref = { group: "cilium.io", kind: "CiliumIdentity", namespace: "", name: obj.metadata.name };
      problems.push({ ref, message: `CiliumIdentity ignored: ${result}` });
    } else records.push(result);
  }
  return { records, problems };
}

/**
 * The records a pass allocates from: the API's first (what the leader
 * recorded wins), then this controller's own from its previous pass where they
 * claim neither a number nor a label set the API has: CIDR identities, and
 * identities allocated but not yet written back. An unused mark the API does
 * not show yet is kept, so the grace period does not restart while the write
 * is on its way.
 */
export function mergeRecords(
  api: readonly IdentityRecord[],
  own: readonly IdentityRecord[],
): readonly IdentityRecord[] {
  const ids = new Set(api.map((r) => r.id));
  const sets = new Set(api.map((r) => r.labels.join(";")));
  const ownById = new Map(own.map((r) => [r.id, r]));
  const merged: IdentityRecord[] = api.map((r) => {
    const mine = ownById.get(r.id);
    return r.unusedSince === undefined &&
      mine?.unusedSince !== undefined &&
      mine.labels.join(";") === r.labels.join(";")
      ? { ...r, unusedSince: mine.unusedSince }
      : r;
  });
  for (const r of own) if (!ids.has(r.id) && !sets.has(r.labels.join(";"))) merged.push(r);
  return merged;
}
