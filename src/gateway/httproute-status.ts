/**
 * The status of a route (HTTPRoute, TLSRoute): one entry per parentRef that
 * names a Gateway of ours, with Accepted, ResolvedRefs and (when some rules
 * were dropped) PartiallyInvalid. Entries written by other controllers are
 * kept as they are.
 */
import type { ResourceRef } from "../model/resource-ref.ts";
import type { ObjectStatus } from "../model/status.ts";
import type { RefProblem } from "./backend-refs.ts";
import { buildConditions, type ConditionInput, cond } from "./conditions.ts";
import type { AttachmentResult, ParentRefLike } from "./route-attachment.ts";

/** What a route's status is built from, whatever its kind. */
export interface RouteForStatus {
  readonly ref: ResourceRef;
  readonly namespace: string;
  readonly generation: number | undefined;
  /** The rules that can be programmed. */
  readonly rules: readonly unknown[];
  /** Why rules were dropped; all dropped means Accepted=False. */
  readonly invalidRules: readonly string[];
  readonly refProblems: readonly RefProblem[];
}

export interface ParentResult {
  readonly parentRef: ParentRefLike;
  readonly attachment: AttachmentResult;
}

interface ParentStatusLike {
  parentRef?: ParentRefLike;
  controllerName?: string;
  conditions?: unknown;
}

/** The parentRef as status reports it: defaults filled in, the namespace always given. */
function cleanParentRef(ref: ParentRefLike, routeNamespace: string): ParentRefLike {
  return {
    group: ref.group ?? "gateway.networking.k8s.io",
    kind: ref.kind ?? "Gateway",
    namespace: ref.namespace ?? routeNamespace,
    name: ref.name,
    ...(ref.sectionName === undefined ? {} : { sectionName: ref.sectionName }),
    ...(ref.port === undefined ? {} : { port: ref.port }),
  };
}

export function routeConditions(translated: RouteForStatus, attachment: AttachmentResult): ConditionInput[] {
  const out: ConditionInput[] = [];
  if (!attachment.ok) {
    out.push(cond("Accepted", false, attachment.reason, attachment.message));
  } else if (translated.rules.length === 0 && translated.invalidRules.length > 0) {
    out.push(cond("Accepted", false, "UnsupportedValue", translated.invalidRules.join("; ")));
  } else {
    out.push(cond("Accepted", true, "Accepted", "route is accepted"));
  }
  const problem = translated.refProblems[0];
  out.push(
    problem === undefined
      ? cond("ResolvedRefs", true, "ResolvedRefs", "all references resolved")
      : cond("ResolvedRefs", false, problem.reason, problem.message),
  );
  if (translated.rules.length > 0 && translated.invalidRules.length > 0) {
    out.push(
      // The spec: with the drop-rule approach the message MUST start with "Dropped Rule".
      cond(
        "PartiallyInvalid",
        true,
        "UnsupportedValue",
        `Dropped Rule(s): ${translated.invalidRules.join("; ")}`,
      ),
    );
  }
  return out;
}

export function routeStatus(
  route: { readonly status?: unknown },
  translated: RouteForStatus,
  results: readonly ParentResult[],
  controllerName: string,
  now: Date,
): ObjectStatus | undefined {
  const previous = ((route.status as { parents?: ParentStatusLike[] } | undefined)?.parents ??
    []) as ParentStatusLike[];
  const others = previous.filter((p) => p.controllerName !== controllerName);
  if (results.length === 0 && others.length === previous.length) return undefined;
  // Other controllers' entries are their output, kept as they are; ours are computed afresh.
  const ours = results.map((r) => ({
    parentRef: cleanParentRef(r.parentRef, translated.namespace),
    controllerName,
    conditions: buildConditions(routeConditions(translated, r.attachment), translated.generation, now),
  }));
  return { ref: translated.ref, status: { parents: [...others, ...ours] } };
}
