/**
 * Values the upstream tests read from live objects, which the catalogue
 * writes as placeholders: `<<hostnames-result>[0]>` is the first of a
 * TLSRoute's `spec.hostnames` (the Go test calls GetTLSRouteHostnames on a
 * route it names). Each entry says which route, per test and placeholder.
 */
import type { CheckData } from "./catalogue.ts";
import type { ConformanceCluster } from "./cluster.ts";

const INFRA = "gateway-conformance-infra";

const ROUTE_HOSTNAMES: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  TLSRouteInvalidBackendRefNonexistent: { hostnames: "invalid-backend-ref-nonexistent" },
  TLSRouteInvalidBackendRefUnknownKind: { hostnames: "invalid-backend-ref-unknown-kind" },
  TLSRouteMixedTerminationSameNamespace: {
    hostnamesTerminate: "gateway-conformance-mixed-terminateroute",
    hostnamesPassthrough: "gateway-conformance-mixed-passthroughroute",
  },
  TLSRouteSimpleSameNamespace: { hostnames: "gateway-conformance-infra-test" },
  TLSRouteTerminateSimpleSameNamespace: { hostnames: "tlsroute-terminated-test" },
};

const PLACEHOLDER = /^<<(\w+)-result>\[0\]>$/;

/** The checks with `serverName` / `tlsServerName` placeholders replaced by the routes' hostnames. */
export function resolvePlaceholders(
  test: string,
  checks: readonly CheckData[],
  cluster: ConformanceCluster,
): { checks: CheckData[]; errors: string[] } {
  const errors: string[] = [];
  const resolved = checks.map((check) => {
    const out: Record<string, unknown> & CheckData = { ...check };
    const resolve = (value: unknown): unknown => {
      const m = PLACEHOLDER.exec(String(value ?? ""));
      if (m === null) return value;
      const route = ROUTE_HOSTNAMES[test]?.[m[1] ?? ""];
      const first =
        route === undefined
          ? undefined
          : (cluster.store.get("TLSRoute", INFRA, route)?.spec?.hostnames as string[] | undefined)?.[0];
      if (first === undefined) errors.push(`${test}: cannot resolve ${String(value)}`);
      return first ?? value;
    };
    for (const field of ["serverName", "tlsServerName"] as const) {
      if (check[field] !== undefined) out[field] = resolve(check[field]);
    }
    // The tcp check's expected.hostname (the SNI the backend saw) is the same value.
    const expected = check.expected as Record<string, unknown> | undefined;
    if (expected?.hostname !== undefined)
      out.expected = { ...expected, hostname: resolve(expected.hostname) };
    return out as CheckData;
  });
  return { checks: resolved, errors };
}
