/**
 * The resources the test API server serves: every kind of strait's catalogue
 * (src/resources/kinds.ts) plus coordination.k8s.io Leases for leader election
 * and cert-manager's CertificateRequests (the agents' cert-manager provider), and
 * events.k8s.io Events.
 */
import { KINDS } from "../../../src/resources/kinds.ts";

export interface ServedResource {
  readonly group: string;
  readonly version: string;
  readonly plural: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

export const LEASE: ServedResource = {
  group: "coordination.k8s.io",
  version: "v1",
  plural: "leases",
  kind: "Lease",
  namespaced: true,
};

export const CERTIFICATE_REQUEST: ServedResource = {
  group: "cert-manager.io",
  version: "v1",
  plural: "certificaterequests",
  kind: "CertificateRequest",
  namespaced: true,
};

/** events.k8s.io/v1 Events, which the leader writes for problems that have no status (invalid endpoints). */
export const EVENT: ServedResource = {
  group: "events.k8s.io",
  version: "v1",
  plural: "events",
  kind: "Event",
  namespaced: true,
};

export const SERVED_RESOURCES: readonly ServedResource[] = [...KINDS, LEASE, CERTIFICATE_REQUEST, EVENT];

/** Identity of a resource: its group and plural. */
export function resourceKey(r: ServedResource): string {
  return `${r.group}/${r.plural}`;
}

export function apiVersionOfResource(r: ServedResource): string {
  return r.group === "" ? r.version : `${r.group}/${r.version}`;
}

/** Built-in kinds come back from a list without apiVersion/kind on each item, as the real server does. */
export function isBuiltIn(r: ServedResource): boolean {
  return (
    !r.group.endsWith("gateway.networking.k8s.io") && r.group !== "cilium.io" && r.group !== "cert-manager.io"
  );
}

export function findResourceByKind(kind: string): ServedResource | undefined {
  return SERVED_RESOURCES.find((r) => r.kind === kind);
}

export function findResourceByPath(
  group: string,
  version: string,
  plural: string,
): ServedResource | undefined {
  return SERVED_RESOURCES.find((r) => r.group === group && r.version === version && r.plural === plural);
}
