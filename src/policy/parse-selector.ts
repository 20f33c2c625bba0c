/**
 * Label selectors of a policy → Selectors, and the namespace scoping
 * Cilium applies when it reads a Kubernetes policy
 * (pkg/k8s/apis/cilium.io/utils): a CiliumNetworkPolicy's endpointSelector
 * always gets `k8s:io.kubernetes.pod.namespace=<its namespace>`; a peer
 * selector gets it too unless it names a namespace, namespace labels or a
 * reserved label; a clusterwide policy's peer selector that names no
 * namespace gets `k8s:io.kubernetes.pod.namespace` Exists instead, so `{}`
 * means every pod, not every identity.
 */

import type { Checker } from "./checker.ts";
import { SOURCE } from "./labels.ts";
import {
  hasKey,
  hasKeyPrefix,
  hasSource,
  makeSelector,
  type Operator,
  type Requirement,
  requirement,
  type Selector,
} from "./selector.ts";
import { NAMESPACE_LABEL, NAMESPACE_LABELS_PREFIX } from "./workload-labels.ts";

const OPERATORS: readonly Operator[] = ["In", "NotIn", "Exists", "DoesNotExist"];

function add(c: Checker, into: Requirement[], path: string, key: string, op: Operator, values: string[]) {
  const r = requirement(key, op, values);
  if (r.ok) into.push(r.value);
  else c.fail(path, r.error);
}

/** A Kubernetes LabelSelector (matchLabels, matchExpressions) with Cilium's keys. */
export function parseLabelSelector(c: Checker, v: unknown, path: string): Selector | undefined {
  const o = c.object(v, path);
  if (o === undefined) return undefined;
  const requirements: Requirement[] = [];
  const before = c.problems.length;
  if (o.matchLabels !== undefined && o.matchLabels !== null) {
    const labels = c.object(o.matchLabels, `${path}.matchLabels`);
    for (const [key, value] of Object.entries(labels ?? {})) {
      const f = `${path}.matchLabels["${key}"]`;
      const s = c.string(value, f);
      if (s !== undefined) add(c, requirements, f, key, "In", [s]);
    }
  }
  (c.list(o.matchExpressions, `${path}.matchExpressions`) ?? []).forEach((e, i) => {
    const f = `${path}.matchExpressions[${i}]`;
    const expr = c.object(e, f);
    if (expr === undefined) return;
    const key = c.string(expr.key, `${f}.key`);
    const op = expr.operator;
    if (!OPERATORS.includes(op as Operator)) {
      c.fail(`${f}.operator`, `must be one of ${OPERATORS.join(", ")}`);
      return;
    }
    const values = (c.list(expr.values, `${f}.values`) ?? []).map((x, j) => c.string(x, `${f}.values[${j}]`));
    if (values.some((x) => x === undefined)) return;
    if ((op === "In" || op === "NotIn") && values.length === 0) {
      c.fail(`${f}.values`, `must not be empty for ${op}`);
      return;
    }
    if ((op === "Exists" || op === "DoesNotExist") && values.length > 0) {
      c.fail(`${f}.values`, `must be empty for ${op}`);
      return;
    }
    if (key !== undefined) add(c, requirements, f, key, op as Operator, values as string[]);
  });
  if (c.problems.length > before) return undefined;
  return makeSelector(requirements);
}

function withRequirement(selector: Selector, r: Requirement): Selector {
  return makeSelector([...selector.requirements, r]);
}

function namespaceIs(namespace: string): Requirement {
  return { source: SOURCE.k8s, key: NAMESPACE_LABEL, operator: "In", values: [namespace] };
}

/** A CiliumNetworkPolicy's endpointSelector: its own namespace, always (a different one is dropped, with a warning). */
export function scopeSubject(
  selector: Selector,
  namespace: string,
): { selector: Selector; warning?: string } {
  if (namespace === "") return { selector };
  const named = selector.requirements.filter(
    (r) => r.key === NAMESPACE_LABEL && (r.source === SOURCE.k8s || r.source === SOURCE.any),
  );
  const illegal = named.some(
    (r) => r.operator !== "In" || r.values.length !== 1 || r.values[0] !== namespace,
  );
  const kept = selector.requirements.filter((r) => !named.includes(r));
  return {
    selector: makeSelector([...kept, namespaceIs(namespace)]),
    ...(illegal
      ? {
          warning: `endpointSelector names another namespace; a CiliumNetworkPolicy always applies in its own (${namespace}), so that match was removed`,
        }
      : {}),
  };
}

/**
 * A peer selector (fromEndpoints, toEndpoints). `namespace` is the policy's
 * ("" for a clusterwide one); `matchesInit`: the rule's endpointSelector
 * selects initializing endpoints (`reserved:init`), which have no namespace label.
 */
export function scopePeer(selector: Selector, namespace: string, matchesInit: boolean): Selector {
  if (hasSource(selector, SOURCE.reserved)) return selector;
  if (hasKey(selector, SOURCE.k8s, NAMESPACE_LABEL) || hasKey(selector, SOURCE.any, NAMESPACE_LABEL))
    return selector;
  if (namespace === "") {
    if (matchesInit) return selector;
    return withRequirement(selector, {
      source: SOURCE.k8s,
      key: NAMESPACE_LABEL,
      operator: "Exists",
      values: [],
    });
  }
  if (
    hasKeyPrefix(selector, SOURCE.k8s, NAMESPACE_LABELS_PREFIX) ||
    hasKeyPrefix(selector, SOURCE.any, NAMESPACE_LABELS_PREFIX)
  )
    return selector;
  return withRequirement(selector, namespaceIs(namespace));
}

export function matchesInit(subject: Selector): boolean {
  return hasKey(subject, SOURCE.reserved, "init");
}
