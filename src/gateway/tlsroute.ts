/**
 * TLSRoute → its hostnames and weighted backends, independent of the parents
 * it attaches to. A TLSRoute has one rule (the CRD allows no more); a
 * backendRef that cannot be used keeps its weight without a cluster, so its
 * share of connections is closed, as the spec asks for unresolved references.
 *
 * BackendTLSPolicy does not apply: the Gateway does not originate TLS to a
 * TLSRoute's backends (Passthrough forwards the client's TLS, Terminate sends
 * the plain stream, GEP-2643). So a TLSRoute's backend is its own cluster,
 * `<namespace>/<service>:<port>~tcp`, a byte stream without HTTP options or
 * TLS origination, even when an HTTPRoute sends to the same Service port.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { WeightedBackend } from "../model/gateway.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import { type BackendRefSpec, type RefProblem, resolveRuleBackends } from "./backend-refs.ts";
import type { BackendTlsPolicies } from "./backend-tls-policy.ts";
import type { TranslatedRouteBase } from "./httproute.ts";

export interface TranslatedTlsRoute extends TranslatedRouteBase {
  /** The route's rule (at most one), as weighted backends. */
  readonly rules: readonly { readonly name?: string; readonly backends: readonly WeightedBackend[] }[];
  readonly invalidRules: readonly string[];
  readonly refProblems: readonly RefProblem[];
  readonly services: readonly ServiceBackend[];
}

interface TlsRuleSpec {
  name?: string;
  backendRefs?: BackendRefSpec[];
}

/** No BackendTLSPolicy applies to a TLSRoute's backends. */
const NO_POLICIES: BackendTlsPolicies = { byTarget: new Map(), decisions: [] };

const TCP_SUFFIX = "~tcp";

function tcpBackend(b: ServiceBackend): ServiceBackend {
  return { ...b, protocol: "tcp", clusterName: `${b.clusterName}${TCP_SUFFIX}` };
}

export function translateTlsRoute(view: ResourceView, route: ObjectOf<"TLSRoute">): TranslatedTlsRoute {
  const namespace = route.metadata.namespace ?? "";
  const from = { kind: "TLSRoute", namespace };
  const rules: { name?: string; backends: readonly WeightedBackend[] }[] = [];
  const invalidRules: string[] = [];
  const refProblems: RefProblem[] = [];
  const services: ServiceBackend[] = [];
  ((route.spec?.rules ?? []) as TlsRuleSpec[]).forEach((rule, index) => {
    const resolved = resolveRuleBackends(view, from, rule.backendRefs ?? [], NO_POLICIES);
    refProblems.push(...resolved.problems);
    services.push(...resolved.services.map(tcpBackend));
    // backendRef filters do not exist on TLSRoute; the CRD has no field for them.
    if (resolved.invalid !== undefined) {
      invalidRules.push(`rule ${rule.name ?? index}: ${resolved.invalid}`);
      return;
    }
    rules.push({
      ...(rule.name === undefined ? {} : { name: rule.name }),
      backends: resolved.backends.map((b) =>
        b.cluster === undefined ? b : { ...b, cluster: `${b.cluster}${TCP_SUFFIX}` },
      ),
    });
  });
  return {
    ref: { group: "gateway.networking.k8s.io", kind: "TLSRoute", namespace, name: route.metadata.name },
    namespace,
    name: route.metadata.name,
    creationTimestamp: route.metadata.creationTimestamp ?? "",
    generation: route.metadata.generation,
    hostnames: (route.spec?.hostnames ?? []) as string[],
    rules,
    invalidRules,
    refProblems,
    services,
  };
}
