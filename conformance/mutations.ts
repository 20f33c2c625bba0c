/**
 * The changes upstream tests make between their checks. The catalogue states
 * them in prose (`notes`); each entry here implements one, citing the note,
 * and says before which check (by index in the test's check list) it happens.
 */
import type { KindName } from "../src/resources/kinds.ts";
import type { AnyStoredObject } from "../src/resources/objects.ts";
import type { ConformanceCluster } from "./cluster.ts";
import type { Mutation } from "./harness.ts";

const INFRA = "gateway-conformance-infra";

function patch(
  cluster: ConformanceCluster,
  kind: KindName,
  namespace: string,
  name: string,
  change: (obj: Record<string, unknown>) => Record<string, unknown>,
): void {
  const current = cluster.store.get(kind, namespace, name);
  if (current === undefined) throw new Error(`mutation: ${kind} ${namespace}/${name} not found`);
  const copy = structuredClone(current) as unknown as Record<string, unknown>;
  cluster.put(kind, change(copy) as unknown as AnyStoredObject);
}

/** The reconcile subtest's ConfigMap: a copy of tls-checks-ca-certificate, or with an empty ca.crt. */
function putCaCopy(cluster: ConformanceCluster, valid: boolean): void {
  const original = cluster.store.get("ConfigMap", INFRA, "tls-checks-ca-certificate");
  if (original === undefined) throw new Error("mutation: ConfigMap tls-checks-ca-certificate not found");
  cluster.put("ConfigMap", {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: { name: "tls-checks-ca-certificate-reconcile-test", namespace: INFRA },
    data: { "ca.crt": valid ? (original.data?.["ca.crt"] ?? "") : "" },
  } as AnyStoredObject);
}

function spec(obj: Record<string, unknown>): Record<string, unknown> {
  return obj.spec as Record<string, unknown>;
}

export const MUTATIONS: Readonly<Record<string, readonly Mutation[]>> = {
  // "Test patches spec.description to "new", waits for Accepted (any status) and checks generation changed".
  GatewayClassObservedGenerationBump: [
    {
      beforeCheck: 2,
      apply: (c) =>
        patch(c, "GatewayClass", "", "gatewayclass-observed-generation-bump", (o) => ({
          ...o,
          spec: { ...spec(o), description: "new" },
        })),
    },
  ],
  // "Patch appends listener alternate (HTTP, port 80, hostname foo.com, routes from All namespaces)".
  GatewayObservedGenerationBump: [
    {
      beforeCheck: 2,
      apply: (c) =>
        patch(c, "Gateway", INFRA, "gateway-observed-generation-bump", (o) => ({
          ...o,
          spec: {
            ...spec(o),
            listeners: [
              ...(spec(o).listeners as unknown[]),
              {
                name: "alternate",
                port: 80,
                protocol: "HTTP",
                hostname: "foo.com",
                allowedRoutes: { namespaces: { from: "All" } },
              },
            ],
          },
        })),
    },
  ],
  // "Add subtest - patches gateway-add-listener to append listener http (port 80, HTTP, hostname data.test.com,
  // routes from All namespaces)"; "Remove subtest - ... the https listener is removed by patch".
  GatewayModifyListeners: [
    {
      beforeCheck: 2,
      apply: (c) =>
        patch(c, "Gateway", INFRA, "gateway-add-listener", (o) => ({
          ...o,
          spec: {
            ...spec(o),
            listeners: [
              ...(spec(o).listeners as unknown[]),
              {
                name: "http",
                port: 80,
                protocol: "HTTP",
                hostname: "data.test.com",
                allowedRoutes: { namespaces: { from: "All" } },
              },
            ],
          },
        })),
    },
    {
      beforeCheck: 7,
      apply: (c) =>
        patch(c, "Gateway", INFRA, "gateway-remove-listener", (o) => ({
          ...o,
          spec: {
            ...spec(o),
            listeners: (spec(o).listeners as { name: string }[]).filter((l) => l.name !== "https"),
          },
        })),
    },
  ],
  // "Step 2 - test patches out the invalid address"; "Step 3 - patches out the unusable address".
  GatewayStaticAddresses: [
    {
      beforeCheck: 2,
      apply: (c) =>
        patch(c, "Gateway", INFRA, "gateway-static-addresses", (o) => ({
          ...o,
          spec: { ...spec(o), addresses: (spec(o).addresses as unknown[]).slice(1) },
        })),
    },
    {
      beforeCheck: 5,
      apply: (c) =>
        patch(c, "Gateway", INFRA, "gateway-static-addresses", (o) => ({
          ...o,
          spec: { ...spec(o), addresses: (spec(o).addresses as unknown[]).slice(1) },
        })),
    },
  ],
  // "patches a rule's path to /bar, then waits for Accepted=True and ResolvedRefs=True at the new generation".
  HTTPRouteObservedGenerationBump: [
    {
      beforeCheck: 2,
      apply: (c) =>
        patch(c, "HTTPRoute", INFRA, "observed-generation-bump", (o) => {
          const rules = structuredClone(spec(o).rules) as {
            matches?: { path?: { type?: string; value?: string } }[];
          }[];
          const first = rules[0];
          if (first !== undefined) first.matches = [{ path: { type: "PathPrefix", value: "/bar" } }];
          return { ...o, spec: { ...spec(o), rules } };
        }),
    },
  ],
  // "The second http check (500) runs after the test deletes the ReferenceGrant."
  HTTPRouteReferenceGrant: [
    {
      beforeCheck: 3,
      apply: (c) => {
        for (const grant of c.store.list("ReferenceGrant", "gateway-conformance-web-backend")) {
          c.store.delete("ReferenceGrant", "gateway-conformance-web-backend", grant.metadata.name);
        }
      },
    },
  ],
  // Reconcile subtest: "patches policy reconcile-test to reference a new ConfigMap
  // tls-checks-ca-certificate-reconcile-test that does not exist yet ...; creates the ConfigMap with the
  // original CA -> both True; patches its ca.crt to empty -> both False again; restores CA -> both True".
  BackendTLSPolicy: [
    {
      beforeCheck: 20,
      apply: (c) =>
        patch(c, "BackendTLSPolicy", INFRA, "reconcile-test", (o) => ({
          ...o,
          spec: {
            ...spec(o),
            validation: {
              ...(spec(o).validation as Record<string, unknown>),
              caCertificateRefs: [
                { group: "", kind: "ConfigMap", name: "tls-checks-ca-certificate-reconcile-test" },
              ],
            },
          },
        })),
    },
    { beforeCheck: 22, apply: (c) => putCaCopy(c, true) },
    { beforeCheck: 24, apply: (c) => putCaCopy(c, false) },
    { beforeCheck: 26, apply: (c) => putCaCopy(c, true) },
  ],
  // "patches spec.validation.hostname, waits for Accepted=True on the same-namespace ancestor".
  BackendTLSPolicyObservedGenerationBump: [
    {
      beforeCheck: 2,
      apply: (c) =>
        patch(c, "BackendTLSPolicy", INFRA, "observed-generation-bump", (o) => ({
          ...o,
          spec: {
            ...spec(o),
            validation: { ...(spec(o).validation as Record<string, unknown>), hostname: "bar.example.com" },
          },
        })),
    },
  ],
  // "Before sending requests the test fills the EndpointSlices manual-endpointslices-ip4/-ip6 and
  // headless-manual-endpointslices-ip4/-ip6 with the infra-backend-v1 pod IPs (ready, serving)."
  HTTPRouteServiceTypes: [
    {
      beforeCheck: 0,
      apply: (c) => {
        const pods = c.pods().filter((p) => p.namespace === INFRA && p.name.startsWith("infra-backend-v1-"));
        for (const name of ["manual-endpointslices-ip4", "headless-manual-endpointslices-ip4"]) {
          const slice = c.store.get("EndpointSlice", INFRA, name);
          if (slice === undefined) continue;
          c.put("EndpointSlice", {
            ...slice,
            endpoints: pods.map((p) => ({ addresses: [p.ip], conditions: { ready: true, serving: true } })),
          } as AnyStoredObject);
        }
      },
    },
  ],
};

/** A check the catalogue states only in its notes, run after the test's listed checks. */
export interface NoteCheck {
  readonly name: string;
  run(cluster: ConformanceCluster): { ok: boolean; message: string };
}

export const NOTE_CHECKS: Readonly<Record<string, readonly NoteCheck[]>> = {
  // "Looks up ServiceAccounts, Pods and Services in gateway-conformance-infra with label
  // gateway.networking.k8s.io/gateway-name=gateway-with-infrastructure-metadata; at least one must exist, and for
  // the first item of each kind found, its labels and annotations must be a superset of
  // spec.infrastructure.labels/annotations."
  GatewayInfrastructure: [
    {
      name: "infrastructure labels and annotations propagate",
      run(cluster) {
        const gw = cluster.store.get("Gateway", INFRA, "gateway-with-infrastructure-metadata");
        const infra = gw?.spec.infrastructure ?? {};
        const found = cluster.store
          .list("Service", INFRA)
          .filter(
            (svc) =>
              svc.metadata.labels?.["gateway.networking.k8s.io/gateway-name"] ===
              "gateway-with-infrastructure-metadata",
          );
        const first = found[0];
        if (first === undefined)
          return { ok: false, message: "no Service, Pod or ServiceAccount labelled with the gateway name" };
        for (const [k, v] of Object.entries(infra.labels ?? {})) {
          if (first.metadata.labels?.[k] !== v)
            return { ok: false, message: `Service ${first.metadata.name} lacks label ${k}=${v}` };
        }
        for (const [k, v] of Object.entries(infra.annotations ?? {})) {
          if (first.metadata.annotations?.[k] !== v)
            return { ok: false, message: `Service ${first.metadata.name} lacks annotation ${k}=${v}` };
        }
        return { ok: true, message: `Service ${first.metadata.name} carries the infrastructure metadata` };
      },
    },
  ],
};
