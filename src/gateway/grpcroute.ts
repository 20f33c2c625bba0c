/**
 * GRPCRoute → the same translated rules as an HTTPRoute: a gRPC call is an
 * HTTP/2 POST to `/<service>/<method>`, so a method match is a path match
 * and a gRPC metadata match is a header match. Then the route tables and
 * Envoy translation are the HTTP ones.
 *
 * Method matches (GEP-1016):
 * - Exact service and method: the exact path `/service/method`;
 * - Exact service only, or method only: a regular expression with the other
 *   part any one path segment (`/service/[^/]+`, `/[^/]+/method`), the names
 *   escaped;
 * - RegularExpression: `/<service or [^/]+>/<method or [^/]+>`;
 * - no method: every path.
 *
 * Backends speak HTTP/2: a Service port whose appProtocol does not already say
 * so (kubernetes.io/h2c, grpc, http2) gets a variant cluster `<cluster>~h2`
 * that speaks HTTP/2 in clear text, so an HTTPRoute to the same port keeps
 * its HTTP/1.1 cluster.
 */
import type { ServiceBackend } from "../model/backend.ts";
import type { ObjectOf } from "../resources/objects.ts";
import type { ResourceView } from "../resources/view.ts";
import type { BackendRefSpec } from "./backend-refs.ts";
import type { BackendTlsPolicies } from "./backend-tls-policy.ts";
import { parentServicesOf, type RuleSpec, type TranslatedHttpRoute, translateRoute } from "./httproute.ts";
import type { FilterSpec } from "./route-filters.ts";
import type { GrpcMethodRank } from "./route-precedence.ts";

interface GrpcMatchSpec {
  method?: { type?: string; service?: string; method?: string };
  headers?: { type?: string; name: string; value: string }[];
}

interface GrpcRuleSpec {
  name?: string;
  matches?: GrpcMatchSpec[];
  filters?: FilterSpec[];
  backendRefs?: BackendRefSpec[];
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

const SEGMENT = "[^/]+";

/** The path match a gRPC method match stands for. */
export function methodPath(method: GrpcMatchSpec["method"]): { type: string; value: string } {
  if (method === undefined || (method.service === undefined && method.method === undefined))
    return { type: "PathPrefix", value: "/" };
  if ((method.type ?? "Exact") === "RegularExpression")
    return { type: "RegularExpression", value: `/${method.service ?? SEGMENT}/${method.method ?? SEGMENT}` };
  if (method.service !== undefined && method.method !== undefined)
    return { type: "Exact", value: `/${method.service}/${method.method}` };
  const service = method.service === undefined ? SEGMENT : escapeRegex(method.service);
  const name = method.method === undefined ? SEGMENT : escapeRegex(method.method);
  return { type: "RegularExpression", value: `/${service}/${name}` };
}

/** Per match (a rule without matches has one, matching every call): its service's and method's length. */
function methodRanks(rule: GrpcRuleSpec | undefined): GrpcMethodRank[] {
  const matches = rule?.matches === undefined || rule.matches.length === 0 ? [{}] : rule.matches;
  return matches.map((m: GrpcMatchSpec) => ({
    service: m.method?.service?.length ?? 0,
    method: m.method?.method?.length ?? 0,
  }));
}

function asHttpRule(rule: GrpcRuleSpec): RuleSpec {
  return {
    ...(rule.name === undefined ? {} : { name: rule.name }),
    ...(rule.matches === undefined
      ? {}
      : {
          matches: rule.matches.map((m) => ({
            path: methodPath(m.method),
            ...(m.headers === undefined ? {} : { headers: m.headers }),
          })),
        }),
    ...(rule.filters === undefined ? {} : { filters: rule.filters }),
    ...(rule.backendRefs === undefined ? {} : { backendRefs: rule.backendRefs }),
  };
}

const HTTP2_SUFFIX = "~h2";

/** The HTTP/2 cluster for a backend: itself when it already speaks HTTP/2, else its `~h2` variant. */
function http2Backend(b: ServiceBackend): ServiceBackend {
  return b.protocol === "http2"
    ? b
    : { ...b, protocol: "http2", clusterName: `${b.clusterName}${HTTP2_SUFFIX}` };
}

export function translateGrpcRoute(
  view: ResourceView,
  route: ObjectOf<"GRPCRoute">,
  policies: BackendTlsPolicies,
): TranslatedHttpRoute {
  const translated = translateRoute(
    view,
    "GRPCRoute",
    route,
    (route.spec?.hostnames ?? []) as string[],
    ((route.spec?.rules ?? []) as GrpcRuleSpec[]).map(asHttpRule),
    policies,
    parentServicesOf(route),
  );
  const renamed = new Map<string, string>();
  const services = translated.services.map((s) => {
    const h2 = http2Backend(s);
    renamed.set(s.clusterName, h2.clusterName);
    return h2;
  });
  const cluster = (name: string) => renamed.get(name) ?? name;
  const specs = (route.spec?.rules ?? []) as GrpcRuleSpec[];
  return {
    ...translated,
    services,
    rules: translated.rules.map((r) => ({
      ...r,
      grpc: methodRanks(specs[r.index]),
      backends: r.backends.map((b) => (b.cluster === undefined ? b : { ...b, cluster: cluster(b.cluster) })),
      mirrors: r.mirrors.map((m) => ({ ...m, cluster: cluster(m.cluster) })),
    })),
  };
}
