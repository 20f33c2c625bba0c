/**
 * Security identities, Cilium's numbering: the reserved identities 1..8, one
 * workload identity (256..65535) per distinct set of identity-relevant
 * labels, and one CIDR identity (node-local scope, 2^24 + n, as Cilium's
 * local identities) per CIDR prefix a policy names.
 *
 * Allocation is deterministic: an identity already recorded (by the leader,
 * in the API, like CiliumIdentity objects; or by this controller in an
 * earlier pass) keeps its number; a new label set gets the slot its hash
 * names, probing upward on collisions, new sets taken in label order. So
 * every replica computes the same numbers from the same records, and a
 * restart without records computes the numbers it had unless two label sets
 * once collided. An identity nothing uses any more is kept for a grace
 * period (a pod restarting gets its number back), then garbage-collected.
 */

import { FIRST_WORKLOAD_IDENTITY, RESERVED_IDENTITIES } from "../model/endpoint-policy.ts";
import { formatIpv4Prefix, type Ipv4Prefix } from "../net/ipv4.ts";
import { type Label, LabelSet, parseLabel, SOURCE } from "./labels.ts";

export type IdentityKind = "reserved" | "workload" | "cidr";

export interface Identity {
  readonly id: number;
  readonly kind: IdentityKind;
  readonly labels: LabelSet;
  /** CIDR identities: their prefix. */
  readonly cidr?: Ipv4Prefix;
}

/** What is recorded of an allocated identity (in the API, or carried between passes). */
export interface IdentityRecord {
  readonly id: number;
  readonly kind: "workload" | "cidr";
  /** The label set, `source:key=value`, sorted. */
  readonly labels: readonly string[];
  /** RFC 3339: since when nothing uses it; absent while in use. */
  readonly unusedSince?: string;
}

export const LAST_WORKLOAD_IDENTITY = 65535;
/** Cilium's LocalIdentityFlag: identities that never leave the node (CIDR identities). */
export const LOCAL_IDENTITY_FLAG = 1 << 24;
const LOCAL_IDENTITY_SLOTS = 65535;

function reserved(id: number, name: string): Identity {
  return { id, kind: "reserved", labels: new LabelSet([{ source: SOURCE.reserved, key: name, value: "" }]) };
}

/** The reserved identities and their labels (Cilium's pkg/identity/reserved). */
export const RESERVED: readonly Identity[] = [
  reserved(RESERVED_IDENTITIES.host, "host"),
  reserved(RESERVED_IDENTITIES.world, "world"),
  reserved(RESERVED_IDENTITIES.unmanaged, "unmanaged"),
  reserved(RESERVED_IDENTITIES.health, "health"),
  reserved(RESERVED_IDENTITIES.init, "init"),
  reserved(RESERVED_IDENTITIES.remoteNode, "remote-node"),
  reserved(RESERVED_IDENTITIES.kubeApiserver, "kube-apiserver"),
  reserved(RESERVED_IDENTITIES.ingress, "ingress"),
];

/** The labels of a CIDR identity: its prefix, and `reserved:world` (it is outside the cluster). */
export function cidrLabels(prefix: Ipv4Prefix): LabelSet {
  const labels: Label[] = [
    { source: SOURCE.cidr, key: formatIpv4Prefix(prefix), value: "" },
    { source: SOURCE.reserved, key: "world", value: "" },
  ];
  return new LabelSet(labels);
}

/** FNV-1a, 32 bits: a stable, well-spread hash of a label set's id. */
function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

interface Range {
  readonly first: number;
  readonly size: number;
}

const WORKLOAD_RANGE: Range = {
  first: FIRST_WORKLOAD_IDENTITY,
  size: LAST_WORKLOAD_IDENTITY - FIRST_WORKLOAD_IDENTITY + 1,
};
const CIDR_RANGE: Range = { first: LOCAL_IDENTITY_FLAG + 1, size: LOCAL_IDENTITY_SLOTS };

function probe(key: string, range: Range, taken: ReadonlySet<number>): number | undefined {
  const start = fnv1a(key) % range.size;
  for (let i = 0; i < range.size; i++) {
    const id = range.first + ((start + i) % range.size);
    if (!taken.has(id)) return id;
  }
  return undefined;
}

export interface AllocationInput {
  /** Label sets of the workloads that exist now. */
  readonly workloads: readonly LabelSet[];
  /** CIDR prefixes the policies name. */
  readonly cidrs: readonly Ipv4Prefix[];
  readonly records: readonly IdentityRecord[];
  readonly now: Date;
  /** How long an unused identity keeps its number. */
  readonly gcAfterMs: number;
}

export interface Allocation {
  /** Every identity in use: reserved, workload, CIDR; by id. */
  readonly identities: ReadonlyMap<number, Identity>;
  readonly byLabels: ReadonlyMap<string, Identity>;
  /** The records to keep: in use, or unused within the grace period. */
  readonly records: readonly IdentityRecord[];
  /** Label sets that could not get a number (the range is full): their pods get no identity. */
  readonly exhausted: readonly string[];
}

function stamp(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function allocateIdentities(input: AllocationInput): Allocation {
  const wanted = new Map<string, { kind: "workload" | "cidr"; labels: LabelSet; cidr?: Ipv4Prefix }>();
  for (const labels of input.workloads) wanted.set(labels.id, { kind: "workload", labels });
  for (const prefix of input.cidrs) {
    const labels = cidrLabels(prefix);
    wanted.set(labels.id, { kind: "cidr", labels, cidr: prefix });
  }

  const taken = new Set<number>();
  const assigned = new Map<string, number>();
  const records: IdentityRecord[] = [];
  const now = input.now.getTime();
  // Records in id order, so a corrupt record set (two label sets, one number) resolves the same everywhere.
  const sorted = [...input.records].sort((a, b) => a.id - b.id);
  for (const r of sorted) {
    const key = recordLabels(r).id;
    const range = r.kind === "workload" ? WORKLOAD_RANGE : CIDR_RANGE;
    if (r.id < range.first || r.id >= range.first + range.size || taken.has(r.id) || assigned.has(key))
      continue;
    const inUse = wanted.has(key);
    if (!inUse) {
      const since = r.unusedSince === undefined ? now : Date.parse(r.unusedSince);
      if (Number.isNaN(since) || now - since >= input.gcAfterMs) continue; // garbage-collected
      records.push(r.unusedSince === undefined ? { ...r, unusedSince: stamp(input.now) } : r);
    } else {
      records.push({ id: r.id, kind: r.kind, labels: r.labels });
    }
    taken.add(r.id);
    assigned.set(key, r.id);
  }

  const exhausted: string[] = [];
  for (const key of [...wanted.keys()].sort()) {
    if (assigned.has(key)) continue;
    const w = wanted.get(key);
    if (w === undefined) continue;
    const id = probe(key, w.kind === "workload" ? WORKLOAD_RANGE : CIDR_RANGE, taken);
    if (id === undefined) {
      exhausted.push(key);
      continue;
    }
    taken.add(id);
    assigned.set(key, id);
    records.push({ id, kind: w.kind, labels: w.labels.strings() });
  }

  const identities = new Map<number, Identity>();
  const byLabels = new Map<string, Identity>();
  for (const r of RESERVED) {
    identities.set(r.id, r);
    byLabels.set(r.labels.id, r);
  }
  for (const [key, w] of wanted) {
    const id = assigned.get(key);
    if (id === undefined) continue;
    const identity: Identity = {
      id,
      kind: w.kind,
      labels: w.labels,
      ...(w.cidr === undefined ? {} : { cidr: w.cidr }),
    };
    identities.set(id, identity);
    byLabels.set(key, identity);
  }
  records.sort((a, b) => a.id - b.id);
  return { identities, byLabels, records, exhausted };
}

/** A record's labels as a LabelSet (for records read back from the API). */
export function recordLabels(record: IdentityRecord): LabelSet {
  return new LabelSet(record.labels.map(parseLabel));
}

/**
 * When the next unused record's grace period ends (ms since the epoch), or
 * undefined when every record is in use: a pass at that time collects it.
 */
export function nextIdentityExpiry(
  records: readonly IdentityRecord[],
  gcAfterMs: number,
): number | undefined {
  let next: number | undefined;
  for (const r of records) {
    if (r.unusedSince === undefined) continue;
    const at = Date.parse(r.unusedSince) + gcAfterMs;
    if (!Number.isNaN(at) && (next === undefined || at < next)) next = at;
  }
  return next;
}
