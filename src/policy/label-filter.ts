/**
 * Which labels count for a security identity, by Cilium's default label
 * filter (pkg/labelsfilter and the "Limiting Identity-Relevant Labels" page of
 * its documentation): every label, except those matching an exclusive
 * pattern, unless a longer inclusive pattern matches too. Patterns are
 * regular expressions anchored at the start of the key, with an optional
 * source. So `pod-template-hash` or `controller-revision-hash` do not split
 * one Deployment into an identity per ReplicaSet, while
 * `io.kubernetes.pod.namespace` and the namespace labels stay.
 */
import type { Label } from "./labels.ts";

interface Pattern {
  readonly source: string | undefined;
  readonly expr: RegExp;
  readonly exclude: boolean;
}

function pattern(text: string): Pattern {
  const colon = text.indexOf(":");
  const source = colon < 0 ? undefined : text.slice(0, colon);
  let body = colon < 0 ? text : text.slice(colon + 1);
  const exclude = body.startsWith("!");
  if (exclude) body = body.slice(1);
  return { source: source === "any" ? undefined : source, expr: new RegExp(body), exclude };
}

/** Cilium's defaults, in its order (the inclusive ones are the always-added ones). */
const DEFAULT_PATTERNS: readonly Pattern[] = [
  "reserved:.*",
  String.raw`io\.kubernetes\.pod\.namespace`,
  String.raw`io\.cilium\.k8s\.namespace\.labels`,
  String.raw`app\.kubernetes\.io`,
  String.raw`!io\.kubernetes`,
  String.raw`!kubernetes\.io`,
  String.raw`!statefulset\.kubernetes\.io/pod-name`,
  String.raw`!apps\.kubernetes\.io/pod-index`,
  String.raw`!batch\.kubernetes\.io/job-completion-index`,
  String.raw`!batch\.kubernetes\.io/controller-uid`,
  String.raw`!.*beta\.kubernetes\.io`,
  String.raw`!k8s\.io`,
  "!pod-template-generation",
  "!pod-template-hash",
  "!controller-revision-hash",
  "!annotation.*",
  "!controller-uid",
  "!etcd_node",
].map(pattern);

/** Length of the match at the start of `key`, or -1. */
function matchLength(p: Pattern, label: Label): number {
  if (p.source !== undefined && p.source !== label.source) return -1;
  const m = p.expr.exec(label.key);
  return m === null || m.index !== 0 ? -1 : m[0].length;
}

/**
 * Whether a label is identity-relevant. Cilium's rule: accepted when no
 * exclusive pattern matches, or when the longest inclusive match is longer
 * than the shortest exclusive one (`{!foo, foo.bar}` keeps `foo.bar.baz`).
 * With only the default inclusive patterns there is no allow-list, so an
 * unmatched label is kept.
 */
export function isIdentityRelevant(label: Label): boolean {
  let included = 0;
  let excluded = 0;
  for (const p of DEFAULT_PATTERNS) {
    const length = matchLength(p, label);
    if (length < 0) continue;
    if (p.exclude) {
      if (excluded === 0 || length < excluded) excluded = length;
    } else if (length > included) included = length;
  }
  return excluded === 0 || included > excluded;
}
