/**
 * Which namespaces an owner lets in: a listener's `allowedRoutes.namespaces`
 * (routes) and a Gateway's `allowedListeners.namespaces` (ListenerSets).
 *
 * Fails closed. Anything the owner did not clearly allow admits nothing:
 * `from: Selector` without a `selector`, a selector Kubernetes itself would
 * refuse (unknown operator, `In`/`NotIn` without values, `Exists`/
 * `DoesNotExist` with values), or a `from` this field does not offer. Such a
 * policy is `Invalid` and carries the reason, for the owner's status. An
 * empty `selector: {}` is a selector that was written, and matches every
 * namespace, as in Kubernetes.
 */
import type { ResourceView } from "../resources/view.ts";

export interface LabelExpression {
  readonly key: string;
  readonly operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
  readonly values: readonly string[];
}

export type NamespacePolicy =
  | { readonly from: "Same" | "All" | "None" }
  | {
      readonly from: "Selector";
      readonly matchLabels: Readonly<Record<string, string>>;
      readonly matchExpressions: readonly LabelExpression[];
    }
  /** Admits nothing: `message` says why, for the owner's status. */
  | { readonly from: "Invalid"; readonly message: string };

export interface NamespacesSpec {
  from?: string;
  selector?: {
    matchLabels?: Record<string, string>;
    matchExpressions?: { key: string; operator: string; values?: string[] }[];
  };
}

const OPERATORS = new Set(["In", "NotIn", "Exists", "DoesNotExist"]);

/** Why Kubernetes would refuse this selector expression (apimachinery's LabelSelectorAsSelector). */
function expressionProblem(e: { key: string; operator: string; values?: string[] }): string | undefined {
  if (!OPERATORS.has(e.operator))
    return `operator ${e.operator} is not one of In, NotIn, Exists, DoesNotExist`;
  const count = e.values?.length ?? 0;
  if ((e.operator === "In" || e.operator === "NotIn") && count === 0)
    return `operator ${e.operator} on ${e.key} needs values`;
  if ((e.operator === "Exists" || e.operator === "DoesNotExist") && count > 0)
    return `operator ${e.operator} on ${e.key} takes no values`;
  return undefined;
}

/**
 * A `namespaces` field as a policy. `field` names it in messages
 * (`allowedRoutes.namespaces`); an absent `from` is `fallback`, the field's
 * default.
 */
export function namespacePolicyOf(
  ns: NamespacesSpec | undefined,
  fallback: "Same" | "None",
  field: string,
): NamespacePolicy {
  const from = ns?.from ?? fallback;
  if (from === "Same" || from === "All" || from === "None") return { from };
  if (from !== "Selector")
    return { from: "Invalid", message: `${field}.from ${from} is not one of All, Same, Selector, None` };
  const selector = ns?.selector;
  if (selector === undefined || selector === null)
    return {
      from: "Invalid",
      message: `${field}.from is Selector but no selector is given: no namespace is admitted`,
    };
  const matchExpressions: LabelExpression[] = [];
  for (const e of selector.matchExpressions ?? []) {
    const problem = expressionProblem(e);
    if (problem !== undefined)
      return { from: "Invalid", message: `${field}.selector: ${problem}: no namespace is admitted` };
    matchExpressions.push({
      key: e.key,
      operator: e.operator as LabelExpression["operator"],
      values: e.values ?? [],
    });
  }
  return { from, matchLabels: selector.matchLabels ?? {}, matchExpressions };
}

function matchesExpression(labels: Readonly<Record<string, string>>, e: LabelExpression): boolean {
  const value = labels[e.key];
  switch (e.operator) {
    case "In":
      return value !== undefined && e.values.includes(value);
    case "NotIn":
      return value === undefined || !e.values.includes(value);
    case "Exists":
      return value !== undefined;
    case "DoesNotExist":
      return value === undefined;
  }
}

/**
 * Labels of a namespace. `kubernetes.io/metadata.name` is set by the API
 * server on every namespace; it is added here too, so selectors on it work
 * in standalone mode and for namespaces that exist only implicitly.
 */
function namespaceLabels(view: ResourceView, namespace: string): Record<string, string> {
  const ns = view.get("Namespace", "", namespace);
  return { ...(ns?.metadata.labels ?? {}), "kubernetes.io/metadata.name": namespace };
}

export function namespaceAllowed(
  view: ResourceView,
  policy: NamespacePolicy,
  ownerNamespace: string,
  namespace: string,
): boolean {
  switch (policy.from) {
    case "All":
      return true;
    case "None":
    case "Invalid":
      return false;
    case "Same":
      return ownerNamespace === namespace;
    case "Selector": {
      const labels = namespaceLabels(view, namespace);
      return (
        Object.entries(policy.matchLabels).every(([k, v]) => labels[k] === v) &&
        policy.matchExpressions.every((e) => matchesExpression(labels, e))
      );
    }
  }
}
