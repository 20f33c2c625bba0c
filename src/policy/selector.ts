/**
 * Cilium's EndpointSelector: a Kubernetes label selector whose keys carry a
 * label source (`k8s:app`, `reserved:host`, `any:app` or plain `app`), matched
 * against an identity's labels. CIDR requirements (`cidr:10.0.0.0/8`) match
 * by containment, as Cilium's CIDR labels do: an identity for 10.1.0.0/16 has
 * `cidr:10.0.0.0/8`.
 */

import { err, ok, type Result } from "../model/result.ts";
import { type Ipv4Prefix, parseIpv4Prefix, prefixContains } from "../net/ipv4.ts";
import { type LabelSet, parseSelectorKey, SOURCE } from "./labels.ts";

export type Operator = "In" | "NotIn" | "Exists" | "DoesNotExist";

export interface Requirement {
  readonly source: string;
  readonly key: string;
  readonly operator: Operator;
  readonly values: readonly string[];
  /** For `cidr` requirements: the key parsed. */
  readonly prefix?: Ipv4Prefix;
}

export interface Selector {
  /** Canonical text (sorted requirements): equal selectors, equal keys; also what traces print. */
  readonly key: string;
  readonly requirements: readonly Requirement[];
}

function requirementText(r: Requirement): string {
  const k = `${r.source}:${r.key}`;
  switch (r.operator) {
    case "In":
      return r.values.length === 1 ? `${k}=${r.values[0]}` : `${k} in (${r.values.join(",")})`;
    case "NotIn":
      return `${k} notin (${r.values.join(",")})`;
    case "Exists":
      return k;
    case "DoesNotExist":
      return `!${k}`;
  }
}

export function makeSelector(requirements: readonly Requirement[]): Selector {
  const sorted = [...requirements]
    .map((r) => ({ ...r, values: [...r.values].sort() }))
    .sort((a, b) => {
      const x = requirementText(a);
      const y = requirementText(b);
      return x < y ? -1 : x > y ? 1 : 0;
    });
  const texts = [...new Set(sorted.map(requirementText))];
  return { key: texts.length === 0 ? "{}" : texts.join(", "), requirements: sorted };
}

/** Matches every identity (Cilium's WildcardEndpointSelector). */
export const WILDCARD_SELECTOR: Selector = makeSelector([]);

export function requirement(
  keyText: string,
  operator: Operator,
  values: readonly string[] = [],
): Result<Requirement> {
  const { source, key } = parseSelectorKey(keyText);
  if (key === "") return err(`"${keyText}": empty label key`);
  if (source === SOURCE.cidr) {
    const prefix = parseIpv4Prefix(key);
    if (!prefix.ok) return err(prefix.error);
    return ok({ source, key, operator, values, prefix: prefix.value });
  }
  return ok({ source, key, operator, values });
}

/** The selector holds a requirement on this key (matchLabels or matchExpressions). */
export function hasKey(selector: Selector, source: string, key: string): boolean {
  return selector.requirements.some((r) => r.source === source && r.key === key);
}

export function hasKeyPrefix(selector: Selector, source: string, prefix: string): boolean {
  return selector.requirements.some((r) => r.source === source && r.key.startsWith(prefix));
}

export function hasSource(selector: Selector, source: string): boolean {
  return selector.requirements.some((r) => r.source === source);
}

function holds(r: Requirement, labels: LabelSet, cidr: Ipv4Prefix | undefined): boolean {
  if (r.prefix !== undefined) {
    const present = cidr !== undefined && prefixContains(r.prefix, cidr);
    return r.operator === "Exists" || r.operator === "In" ? present : !present;
  }
  const found = labels.get(r.source, r.key);
  switch (r.operator) {
    case "Exists":
      return found.length > 0;
    case "DoesNotExist":
      return found.length === 0;
    case "In":
      return found.some((l) => r.values.includes(l.value));
    case "NotIn":
      return !found.some((l) => r.values.includes(l.value));
  }
}

/** `cidr`: the prefix of a CIDR identity (its one `cidr:` label, parsed). */
export function selectorMatches(selector: Selector, labels: LabelSet, cidr?: Ipv4Prefix): boolean {
  for (const r of selector.requirements) if (!holds(r, labels, cidr)) return false;
  return true;
}
