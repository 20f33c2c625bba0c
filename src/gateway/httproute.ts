/**
 * HTTPRoute → translated rules, independent of the parents it attaches to.
 * A rule that cannot be programmed (an invalid regular expression, say) is
 * dropped and reported (PartiallyInvalid, or Accepted=False when no rule is
 * left); unresolved references keep the rule but answer 500 for their share.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { Cors, HeaderMutation, Mirror, Retry, RouteMatch, WeightedBackend } from "../model/gateway.ts";
import type { ResourceRef } from "../model/resource-ref.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { type BackendRefSpec, type RefOrigin, type RefProblem, resolveRuleBackends } from "./backend-refs.ts";
import type { BackendTlsPolicies, PolicyDecision } from "./backend-tls-policy.ts";
import { parseGatewayDuration } from "./duration.ts";
import { isServiceParent, type ParentRefLike } from "./route-attachment.ts";
import { type FilterSpec, type PathModifier, type RedirectSpec, translateFilters } from "./route-filters.ts";
import { MATCH_ALL, translateMatch } from "./route-matches.ts";
import type { GrpcMethodRank } from "./route-precedence.ts";

export interface TranslatedRule {
  readonly index: number;
  readonly name?: string;
  readonly matches: readonly RouteMatch[];
  readonly requestHeaders: HeaderMutation;
  readonly responseHeaders: HeaderMutation;
  readonly redirect?: RedirectSpec;
  readonly hostRewrite?: string;
  readonly pathRewrite?: PathModifier;
  readonly backends: readonly WeightedBackend[];
  readonly mirrors: readonly Mirror[];
  readonly cors?: Cors;
  /** Answer this status instead of forwarding (an unsupported filter, no backends). */
  readonly directStatus?: number;
  readonly requestTimeout?: number;
  readonly backendTimeout?: number;
  readonly retry?: Retry;
  /** A GRPCRoute rule's method ranks, one per match (its precedence is not the HTTP one). */
  readonly grpc?: readonly GrpcMethodRank[];
}

/** What every translated route kind carries about the object it came from. */
export interface TranslatedRouteBase {
  readonly ref: ResourceRef;
  readonly namespace: string;
  readonly name: string;
  readonly creationTimestamp: string;
  readonly generation: number | undefined;
  readonly hostnames: readonly string[];
}

export interface TranslatedHttpRoute extends TranslatedRouteBase {
  readonly rules: readonly TranslatedRule[];
  /** Why rules were dropped; all dropped means Accepted=False. */
  readonly invalidRules: readonly string[];
  readonly refProblems: readonly RefProblem[];
  readonly services: readonly ServiceBackend[];
  /** BackendTLSPolicies applying to the route's backends (valid or not), for their status. */
  readonly policies: readonly PolicyDecision[];
}

export interface RuleSpec {
  name?: string;
  matches?: Parameters<typeof translateMatch>[0][];
  filters?: FilterSpec[];
  backendRefs?: BackendRefSpec[];
  timeouts?: { request?: string; backendRequest?: string };
  retry?: { codes?: number[]; attempts?: number; backoff?: string };
}

function translateRule(
  view: ResourceView,
  from: RefOrigin,
  rule: RuleSpec,
  index: number,
  policies: BackendTlsPolicies,
): {
  rule?: TranslatedRule;
  invalid?: string;
  refProblems: RefProblem[];
  services: ServiceBackend[];
  policies: PolicyDecision[];
} {
  const matches: RouteMatch[] = [];
  for (const spec of rule.matches === undefined || rule.matches.length === 0 ? [MATCH_ALL] : rule.matches) {
    const m = translateMatch(spec);
    if (!m.ok)
      return {
        invalid: `rule ${rule.name ?? index}: ${m.error}`,
        refProblems: [],
        services: [],
        policies: [],
      };
    matches.push(m.value);
  }
  const filters = translateFilters(view, from, rule.filters ?? [], policies);
  if (filters.invalid !== undefined) {
    return {
      invalid: `rule ${rule.name ?? index}: ${filters.invalid}`,
      refProblems: [],
      services: [],
      policies: [],
    };
  }
  if (
    filters.redirect !== undefined &&
    (filters.pathRewrite !== undefined || filters.hostRewrite !== undefined)
  ) {
    return {
      invalid: `rule ${rule.name ?? index}: RequestRedirect and URLRewrite cannot be combined`,
      refProblems: [],
      services: [],
      policies: [],
    };
  }
  const needsPrefix = [filters.redirect?.path, filters.pathRewrite].some(
    (p) => p?.type === "ReplacePrefixMatch",
  );
  if (needsPrefix && matches.some((m) => m.path.type !== "PathPrefix")) {
    return {
      invalid: `rule ${rule.name ?? index}: ReplacePrefixMatch needs PathPrefix matches`,
      refProblems: [],
      services: [],
      policies: [],
    };
  }
  const backends = resolveRuleBackends(view, from, rule.backendRefs ?? [], policies);
  if (backends.invalid !== undefined) {
    return {
      invalid: `rule ${rule.name ?? index}: ${backends.invalid}`,
      refProblems: [],
      services: [],
      policies: [],
    };
  }

  const timeouts: { request?: number; backendRequest?: number } = {};
  for (const key of ["request", "backendRequest"] as const) {
    const text = rule.timeouts?.[key];
    if (text === undefined) continue;
    const seconds = parseGatewayDuration(text);
    if (seconds === undefined)
      return {
        invalid: `rule ${rule.name ?? index}: timeouts.${key} "${text}" is not a duration`,
        refProblems: [],
        services: [],
        policies: [],
      };
    timeouts[key] = seconds;
  }
  if (
    timeouts.request !== undefined &&
    timeouts.backendRequest !== undefined &&
    timeouts.request > 0 &&
    timeouts.backendRequest > timeouts.request
  ) {
    return {
      invalid: `rule ${rule.name ?? index}: timeouts.backendRequest must not exceed timeouts.request`,
      refProblems: [],
      services: [],
      policies: [],
    };
  }
  let retry: Retry | undefined;
  if (rule.retry !== undefined) {
    const backoff = rule.retry.backoff === undefined ? undefined : parseGatewayDuration(rule.retry.backoff);
    if (rule.retry.backoff !== undefined && backoff === undefined) {
      return {
        invalid: `rule ${rule.name ?? index}: retry.backoff "${rule.retry.backoff}" is not a duration`,
        refProblems: [],
        services: [],
        policies: [],
      };
    }
    retry = {
      attempts: rule.retry.attempts ?? 1,
      codes: rule.retry.codes ?? [],
      ...(backoff === undefined ? {} : { backoff }),
    };
  }

  // No backends at all (none given, all weight 0) means 500 for the whole rule, unless it redirects.
  const totalWeight = backends.backends.reduce((n, b) => n + b.weight, 0);
  let directStatus: number | undefined;
  if (filters.unsupported !== undefined) directStatus = 500;
  else if (filters.redirect === undefined && totalWeight === 0) directStatus = 500;

  return {
    rule: {
      index,
      ...(rule.name === undefined ? {} : { name: rule.name }),
      matches,
      requestHeaders: filters.requestHeaders,
      responseHeaders: filters.responseHeaders,
      ...(filters.redirect === undefined ? {} : { redirect: filters.redirect }),
      ...(filters.hostRewrite === undefined ? {} : { hostRewrite: filters.hostRewrite }),
      ...(filters.pathRewrite === undefined ? {} : { pathRewrite: filters.pathRewrite }),
      backends: backends.backends,
      mirrors: filters.mirrors.map((m) => ({ cluster: m.backend.clusterName, fraction: m.fraction })),
      ...(filters.cors === undefined ? {} : { cors: filters.cors }),
      ...(directStatus === undefined ? {} : { directStatus }),
      ...(timeouts.request === undefined ? {} : { requestTimeout: timeouts.request }),
      ...(timeouts.backendRequest === undefined ? {} : { backendTimeout: timeouts.backendRequest }),
      ...(retry === undefined ? {} : { retry }),
    },
    refProblems: [...backends.problems, ...filters.refProblems],
    services: [...backends.services, ...filters.mirrors.map((m) => m.backend)],
    policies: [...backends.policies, ...filters.policies],
  };
}

/** The Services a GAMMA route is attached to (`namespace/name`): its backendRefs to them need no ReferenceGrant. */
export function parentServicesOf(route: {
  readonly metadata: { readonly namespace?: string };
  readonly spec?: { readonly parentRefs?: unknown };
}): Set<string> {
  const namespace = route.metadata.namespace ?? "";
  return new Set(
    ((route.spec?.parentRefs ?? []) as ParentRefLike[])
      .filter(isServiceParent)
      .map((p) => `${p.namespace ?? namespace}/${p.name}`),
  );
}

export function translateHttpRoute(
  view: ResourceView,
  route: ObjectOf<"HTTPRoute">,
  policies: BackendTlsPolicies,
): TranslatedHttpRoute {
  const parentServices = parentServicesOf(route);
  return translateRoute(
    view,
    "HTTPRoute",
    route,
    (route.spec?.hostnames ?? []) as string[],
    (route.spec?.rules ?? []) as RuleSpec[],
    policies,
    parentServices,
  );
}

/**
 * The rules of an HTTP-family route (HTTPRoute, or a GRPCRoute whose rules
 * grpcroute.ts has put in HTTPRoute terms), translated for its `kind`.
 */
export function translateRoute(
  view: ResourceView,
  kind: "HTTPRoute" | "GRPCRoute",
  route: {
    readonly metadata: {
      readonly name: string;
      readonly namespace?: string;
      readonly creationTimestamp?: string;
      readonly generation?: number;
    };
  },
  hostnames: readonly string[],
  specs: readonly RuleSpec[],
  policies: BackendTlsPolicies,
  parentServices?: ReadonlySet<string>,
): TranslatedHttpRoute {
  const namespace = route.metadata.namespace ?? "";
  const from: RefOrigin = {
    kind,
    namespace,
    ...(parentServices === undefined || parentServices.size === 0 ? {} : { parentServices }),
  };
  const rules: TranslatedRule[] = [];
  const invalidRules: string[] = [];
  const refProblems: RefProblem[] = [];
  const services: ServiceBackend[] = [];
  const used: PolicyDecision[] = [];
  specs.forEach((spec, index) => {
    const out = translateRule(view, from, spec, index, policies);
    used.push(...out.policies);
    if (out.invalid !== undefined) invalidRules.push(out.invalid);
    if (out.rule !== undefined) rules.push(out.rule);
    refProblems.push(...out.refProblems);
    services.push(...out.services);
  });
  // A route with no rules routes every request to nothing: 404 for its hosts (spec default rule is implied only with rules: []).
  return {
    ref: { group: "gateway.networking.k8s.io", kind, namespace, name: route.metadata.name },
    namespace,
    name: route.metadata.name,
    creationTimestamp: route.metadata.creationTimestamp ?? "",
    generation: route.metadata.generation,
    hostnames,
    rules,
    invalidRules,
    refProblems,
    services,
    policies: [...new Set(used)],
  };
}
