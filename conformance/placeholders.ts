/**
 * Values the upstream tests read from live objects, which the catalogue
 * writes as placeholders: `<<hostnames-result>[0]>` is the first of a
 * TLSRoute's `spec.hostnames` (the Go test calls GetTLSRouteHostnames on a
 * route it names); `<http.Ipv6SafeHost(...) + ':8080'>` is a Pod's address
 * (MeshFrontend sends to `http.Ipv6SafeHost(v2.Address) + ":8080"`, v2 being
 * `echo.ConnectToApp(..., MeshAppEchoV2)`: the first Pod labelled
 * app=echo,version=v2 in gateway-conformance-mesh, its status.podIP). Each
 * entry says which object, per test and placeholder.
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

interface PodHost {
  readonly namespace: string;
  /** The label selector of the Go test's `echo.MeshApplication`. */
  readonly labels: Readonly<Record<string, string>>;
  readonly port: number;
}

/** Request hosts that are a Pod's address, per test and placeholder. */
const POD_HOSTS: Readonly<Record<string, Readonly<Record<string, PodHost>>>> = {
  MeshFrontend: {
    "<http.Ipv6SafeHost(...) + ':8080'>": {
      namespace: "gateway-conformance-mesh",
      labels: { app: "echo", version: "v2" },
      port: 8080,
    },
  },
};

/** `Ipv6SafeHost(address) + ":port"` of the first Pod (by name, as the API server lists them) the selector matches. */
function podHost(cluster: ConformanceCluster, want: PodHost): string | undefined {
  const pod = cluster
    .pods()
    .filter(
      (p) =>
        p.namespace === want.namespace && Object.entries(want.labels).every(([k, v]) => p.labels[k] === v),
    )
    .sort((a, b) => a.name.localeCompare(b.name))[0];
  if (pod === undefined) return undefined;
  const host = pod.ip.includes(":") ? `[${pod.ip}]` : pod.ip;
  return `${host}:${want.port}`;
}

/**
 * The checks with `serverName` / `tlsServerName` placeholders replaced by the
 * routes' hostnames, and `request.host` placeholders by the Pods' addresses.
 */
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
    const request = check.request as Record<string, unknown> | undefined;
    const host = typeof request?.host === "string" ? request.host : undefined;
    if (host?.startsWith("<") === true) {
      const want = POD_HOSTS[test]?.[host];
      const address = want === undefined ? undefined : podHost(cluster, want);
      if (address === undefined) errors.push(`${test}: cannot resolve host ${host}`);
      else out.request = { ...request, host: address };
    }
    return out as CheckData;
  });
  return { checks: resolved, errors };
}
