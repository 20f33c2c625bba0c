/**
 * Service + EndpointSlices → ServiceBackend. Shared by every route kind and by
 * the mesh: a backendRef's port is a Service port; the endpoints' port is the
 * EndpointSlice port whose name matches that Service port's name (this is how
 * Kubernetes resolves targetPort, including named ports that differ per pod).
 */
import type { Endpoint, ServiceBackend, UpstreamProtocol } from "../model/backend.ts";
import { err, ok, type Result } from "../model/result.ts";
import type { ResourceView } from "../resources/view.ts";

export type ServiceBackendError =
  | { readonly reason: "ServiceNotFound"; readonly message: string }
  | { readonly reason: "PortNotFound"; readonly message: string }
  | { readonly reason: "UnsupportedServiceType"; readonly message: string };

/** Envoy cluster name of a Service port (DESIGN.md: `ns/service:port`). */
export function serviceClusterName(namespace: string, service: string, port: number): string {
  return `${namespace}/${service}:${port}`;
}

/** The upstream protocol an appProtocol asks for (Gateway API GEP-1911 values, and common aliases). */
export function protocolOfAppProtocol(appProtocol: string | undefined): UpstreamProtocol {
  switch (appProtocol?.toLowerCase()) {
    case "kubernetes.io/h2c":
    case "h2c":
    case "grpc":
    case "http2":
      return "http2";
    case "kubernetes.io/ws":
    case "kubernetes.io/wss":
    case "ws":
    case "websocket":
      return "websocket";
    default:
      return "http1";
  }
}

interface ServicePortLike {
  name?: string;
  port?: number;
  appProtocol?: string;
}

function compareEndpoints(a: Endpoint, b: Endpoint): number {
  if (a.address !== b.address) return a.address < b.address ? -1 : 1;
  return a.port - b.port;
}

type Resolved = Result<ServiceBackend, ServiceBackendError>;

/**
 * Resolutions by view, valid while the view's Service and EndpointSlice revisions stay
 * the same: a Service port is named by many backendRefs (at 5,000 routes each one about
 * eight times), and its endpoints need collecting and sorting only once.
 */
const RESOLVED = new WeakMap<
  ResourceView,
  { services: number; slices: number; byPort: Map<string, Resolved> }
>();

/** Resolves one port of a Service to a backend with its ready endpoints (one shared result per Service port). */
export function resolveServiceBackend(
  view: ResourceView,
  namespace: string,
  name: string,
  port: number,
): Resolved {
  const services = view.revision?.("Service");
  const slices = view.revision?.("EndpointSlice");
  if (services === undefined || slices === undefined) return resolve(view, namespace, name, port);
  let memo = RESOLVED.get(view);
  if (memo === undefined || memo.services !== services || memo.slices !== slices) {
    memo = { services, slices, byPort: new Map() };
    RESOLVED.set(view, memo);
  }
  const key = `${namespace}/${name}:${port}`;
  let resolved = memo.byPort.get(key);
  if (resolved === undefined) {
    resolved = resolve(view, namespace, name, port);
    memo.byPort.set(key, resolved);
  }
  return resolved;
}

function resolve(view: ResourceView, namespace: string, name: string, port: number): Resolved {
  const service = view.get("Service", namespace, name);
  if (service === undefined) {
    return err({ reason: "ServiceNotFound", message: `Service ${namespace}/${name} not found` });
  }
  const spec = service.spec ?? {};
  if (spec.type === "ExternalName") {
    return err({
      reason: "UnsupportedServiceType",
      message: `Service ${namespace}/${name} is of type ExternalName, which strait does not route to`,
    });
  }
  const ports = (spec.ports ?? []) as ServicePortLike[];
  const servicePort = ports.find((p) => p.port === port);
  if (servicePort === undefined) {
    return err({ reason: "PortNotFound", message: `Service ${namespace}/${name} has no port ${port}` });
  }
  const portName = servicePort.name ?? "";
  const seen = new Set<string>();
  const endpoints: Endpoint[] = [];
  for (const slice of view.byIndex("endpointSlicesByService", `${namespace}/${name}`)) {
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const slicePort = (slice.ports ?? []).find((p) => (p.name ?? "") === portName);
    if (slicePort?.port === undefined || slicePort.port === null) continue;
    for (const ep of slice.endpoints ?? []) {
      // A nil `ready` means ready (EndpointSlice API); terminating endpoints are not ready.
      if (ep.conditions?.ready === false) continue;
      for (const address of ep.addresses ?? []) {
        const key = `${address}:${slicePort.port}`;
        if (seen.has(key)) continue;
        seen.add(key);
        endpoints.push({
          address,
          port: slicePort.port,
          ...(ep.zone === undefined ? {} : { zone: ep.zone }),
          ...(ep.nodeName === undefined ? {} : { nodeName: ep.nodeName }),
          ...(ep.targetRef?.name === undefined
            ? {}
            : { target: `${ep.targetRef.namespace ?? namespace}/${ep.targetRef.name}` }),
        });
      }
    }
  }
  endpoints.sort(compareEndpoints);
  return ok({
    kind: "Service",
    clusterName: serviceClusterName(namespace, name, port),
    namespace,
    service: name,
    port,
    protocol: protocolOfAppProtocol(servicePort.appProtocol),
    endpoints,
    sources: [{ group: "", kind: "Service", namespace, name }],
  });
}

function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return (
    a.address === b.address &&
    a.port === b.port &&
    a.zone === b.zone &&
    a.nodeName === b.nodeName &&
    a.target === b.target
  );
}

/** Whether two translations of a Service port are equal (so the older one can be kept). */
export function sameServiceBackend(a: ServiceBackend, b: ServiceBackend): boolean {
  if (
    a.clusterName !== b.clusterName ||
    a.protocol !== b.protocol ||
    a.endpoints.length !== b.endpoints.length ||
    (a.tls === undefined) !== (b.tls === undefined) ||
    a.sources.length !== b.sources.length
  )
    return false;
  for (let i = 0; i < a.endpoints.length; i++) {
    if (!sameEndpoint(a.endpoints[i] as Endpoint, b.endpoints[i] as Endpoint)) return false;
  }
  for (let i = 0; i < a.sources.length; i++) {
    const x = a.sources[i];
    const y = b.sources[i];
    if (x?.group !== y?.group || x?.kind !== y?.kind || x?.namespace !== y?.namespace || x?.name !== y?.name)
      return false;
  }
  // TLS settings are small and rare: compared whole.
  return a.tls === b.tls || JSON.stringify(a.tls) === JSON.stringify(b.tls);
}
