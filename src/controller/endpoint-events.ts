/**
 * Events for endpoints left out of the Envoy configuration. An EndpointSlice
 * has no status, so an endpoint that fails validation (an empty address, a
 * port out of range) is logged and counted, and, in cluster mode, reported
 * on the EndpointSlice it came from as a Warning Event (reason
 * `InvalidEndpoint`) that its owner sees in `kubectl events`.
 *
 * Exclusions name the endpoint `address:port` and come from the Service; the
 * slice holding that address and port is looked up in the store here, at the
 * edge, so the model does not carry slice names for this alone. When no slice
 * matches (it changed meanwhile), the Event regards the Service.
 */
import type { Exclusion } from "../model/exclusion.ts";
import type { ResourceView } from "../resources/view.ts";
import type { EventRegarding, EventSpec } from "../sources/kubernetes/event-recorder.ts";

export const INVALID_ENDPOINT_REASON = "InvalidEndpoint";

function splitEndpoint(name: string): { address: string; port: number } {
  const at = name.lastIndexOf(":");
  return { address: name.slice(0, at), port: Number(name.slice(at + 1)) };
}

function regardingOf(e: Exclusion, view: ResourceView): EventRegarding | undefined {
  const service = e.sources.find((s) => s.group === "" && s.kind === "Service");
  if (service === undefined) return undefined;
  const { address, port } = splitEndpoint(e.name);
  for (const slice of view.byIndex("endpointSlicesByService", `${service.namespace}/${service.name}`)) {
    const hasPort = (slice.ports ?? []).some((p) => p.port === port);
    const hasAddress = (slice.endpoints ?? []).some((ep) => (ep.addresses ?? []).includes(address));
    if (hasPort && hasAddress) {
      return {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        namespace: slice.metadata.namespace ?? service.namespace,
        name: slice.metadata.name,
        ...(slice.metadata.uid === undefined ? {} : { uid: slice.metadata.uid }),
      };
    }
  }
  const svc = view.get("Service", service.namespace, service.name);
  return {
    apiVersion: "v1",
    kind: "Service",
    namespace: service.namespace,
    name: service.name,
    ...(svc?.metadata.uid === undefined ? {} : { uid: svc.metadata.uid }),
  };
}

/** One Warning Event per endpoint left out, regarding the EndpointSlice it came from. */
export function invalidEndpointEvents(excluded: readonly Exclusion[], view: ResourceView): EventSpec[] {
  const events: EventSpec[] = [];
  for (const e of excluded) {
    if (e.part !== "endpoint") continue;
    const regarding = regardingOf(e, view);
    if (regarding === undefined) continue;
    events.push({
      regarding,
      type: "Warning",
      reason: INVALID_ENDPOINT_REASON,
      action: "Translate",
      note: `endpoint ${e.name} left out of the endpoints of Envoy cluster ${e.resourceName}; the other endpoints are served: ${e.message}`,
    });
  }
  return events;
}
