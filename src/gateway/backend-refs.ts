/**
 * Route backendRefs → weighted backends. A reference that cannot be used
 * (unknown kind, missing Service or port, cross-namespace without a
 * ReferenceGrant, unsupported appProtocol) keeps its weight but has no
 * cluster: the spec asks that its share of requests get HTTP 500, while the
 * valid backends of the rule keep serving theirs.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { HeaderMutation, WeightedBackend } from "../model/gateway.ts";
import type { ResourceView } from "../resources/view.ts";
import { type BackendTlsPolicies, type PolicyDecision, policyForPort } from "./backend-tls-policy.ts";
import {
  headerMutation,
  mutationProblem,
  responseHostProblem,
  withoutHostHeader,
} from "./header-mutation.ts";
import { referenceAllowed } from "./reference-grant.ts";
import { resolveServiceBackend } from "./service-backends.ts";

export interface BackendRefSpec {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
  weight?: number;
  filters?: { type: string; requestHeaderModifier?: unknown; responseHeaderModifier?: unknown }[];
}

export interface RefProblem {
  readonly reason: "BackendNotFound" | "InvalidKind" | "RefNotPermitted" | "UnsupportedProtocol";
  readonly message: string;
}

export interface ResolvedRef {
  readonly backend?: ServiceBackend;
  readonly problem?: RefProblem;
  /** The BackendTLSPolicy that applies to the backend, valid or not. */
  readonly policy?: PolicyDecision;
}

/** appProtocol values strait can speak to (GEP-1911); others are UnsupportedProtocol. */
const SUPPORTED_APP_PROTOCOLS = new Set([
  "http",
  "https",
  "kubernetes.io/h2c",
  "kubernetes.io/ws",
  "kubernetes.io/wss",
  "h2c",
  "grpc",
  "http2",
]);

/**
 * Where a reference comes from. `parentServices` (`namespace/name`): the
 * Services a GAMMA route is attached to; a backendRef to one of them needs no
 * ReferenceGrant, since a consumer route sends its traffic on to the Service
 * it is for (GEP-1426; the official MeshConsumerRoute test has none).
 */
export interface RefOrigin {
  readonly kind: string;
  readonly namespace: string;
  readonly parentServices?: ReadonlySet<string>;
}

export function resolveBackendRef(
  view: ResourceView,
  from: RefOrigin,
  ref: BackendRefSpec,
  policies: BackendTlsPolicies,
): ResolvedRef {
  const group = ref.group ?? "";
  const kind = ref.kind ?? "Service";
  const namespace = ref.namespace ?? from.namespace;
  if (group !== "" || kind !== "Service") {
    return {
      problem: {
        reason: "InvalidKind",
        message: `backendRef ${group === "" ? "core" : group}/${kind} ${ref.name} is not a Service`,
      },
    };
  }
  if (
    from.parentServices?.has(`${namespace}/${ref.name}`) !== true &&
    !referenceAllowed(
      view,
      { group: "gateway.networking.k8s.io", kind: from.kind, namespace: from.namespace },
      { group: "", kind: "Service", namespace, name: ref.name },
    )
  ) {
    return {
      problem: {
        reason: "RefNotPermitted",
        message: `Service ${namespace}/${ref.name} is in another namespace and no ReferenceGrant allows the reference`,
      },
    };
  }
  if (ref.port === undefined) {
    return {
      problem: {
        reason: "BackendNotFound",
        message: `backendRef to Service ${namespace}/${ref.name} needs a port`,
      },
    };
  }
  const resolved = resolveServiceBackend(view, namespace, ref.name, ref.port);
  if (!resolved.ok) {
    return { problem: { reason: "BackendNotFound", message: resolved.error.message } };
  }
  const servicePort = (view.get("Service", namespace, ref.name)?.spec?.ports ?? []).find(
    (p) => p.port === ref.port,
  );
  const appProtocol = servicePort?.appProtocol;
  if (appProtocol !== undefined && !SUPPORTED_APP_PROTOCOLS.has(appProtocol.toLowerCase())) {
    return {
      problem: {
        reason: "UnsupportedProtocol",
        message: `appProtocol ${appProtocol} of Service ${namespace}/${ref.name} port ${ref.port} is not supported`,
      },
    };
  }
  const policy = policyForPort(policies, namespace, ref.name, servicePort?.name ?? "");
  if (policy === undefined) return { backend: resolved.value };
  // An unusable BackendTLSPolicy makes the backend unusable: never fall back to clear text.
  if (policy.tls === undefined) return { policy };
  return { backend: { ...resolved.value, tls: policy.tls }, policy };
}

export interface RuleBackends {
  /** A backendRef filter that cannot be programmed: the rule is invalid. */
  readonly invalid?: string;
  readonly backends: readonly WeightedBackend[];
  readonly services: readonly ServiceBackend[];
  readonly problems: readonly RefProblem[];
  readonly policies: readonly PolicyDecision[];
}

export function resolveRuleBackends(
  view: ResourceView,
  from: RefOrigin,
  refs: readonly BackendRefSpec[],
  policies: BackendTlsPolicies,
): RuleBackends {
  const backends: WeightedBackend[] = [];
  const services: ServiceBackend[] = [];
  const problems: RefProblem[] = [];
  const used: PolicyDecision[] = [];
  let invalid: string | undefined;
  for (const ref of refs) {
    const weight = ref.weight ?? 1;
    const resolved = resolveBackendRef(view, from, ref, policies);
    if (resolved.problem !== undefined) problems.push(resolved.problem);
    if (resolved.policy !== undefined) used.push(resolved.policy);
    if (resolved.backend !== undefined) services.push(resolved.backend);
    if (weight === 0) continue;
    let requestHeaders: HeaderMutation | undefined;
    let responseHeaders: HeaderMutation | undefined;
    for (const f of ref.filters ?? []) {
      if (f.type === "RequestHeaderModifier") {
        requestHeaders = headerMutation(f.requestHeaderModifier);
        // Envoy has no per-backend Host rewrite in a header mutation: it would refuse the whole route table.
        if (
          requestHeaders.set.some((h) => h.name.toLowerCase() === "host") ||
          withoutHostHeader(requestHeaders).invalid
        )
          invalid = `backendRef ${ref.name}: RequestHeaderModifier cannot change the Host header of one backend`;
        const problem = mutationProblem(requestHeaders, "RequestHeaderModifier");
        if (problem !== undefined) invalid = `backendRef ${ref.name}: ${problem}`;
      }
      if (f.type !== "RequestHeaderModifier" && f.type !== "ResponseHeaderModifier") {
        // Envoy applies only header mutations per weighted cluster: any other filter under a
        // backendRef would be dropped, so the rule is refused instead of served without it.
        invalid = `backendRef ${ref.name}: filter ${f.type} is not supported under a backendRef (only RequestHeaderModifier and ResponseHeaderModifier are); put it in the rule's filters`;
      }
      if (f.type === "ResponseHeaderModifier") {
        responseHeaders = headerMutation(f.responseHeaderModifier);
        const problem =
          responseHostProblem(responseHeaders) ?? mutationProblem(responseHeaders, "ResponseHeaderModifier");
        if (problem !== undefined) invalid = `backendRef ${ref.name}: ${problem}`;
      }
    }
    backends.push({
      ...(resolved.backend === undefined ? {} : { cluster: resolved.backend.clusterName }),
      weight,
      ...(requestHeaders === undefined ? {} : { requestHeaders }),
      ...(responseHeaders === undefined ? {} : { responseHeaders }),
    });
  }
  return { backends, services, problems, policies: used, ...(invalid === undefined ? {} : { invalid }) };
}
