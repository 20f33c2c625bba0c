/**
 * The intermediate model between the Kubernetes objects (gateway/, policy/)
 * and the Envoy resources (xds/translate/): types only. Every element records
 * the objects it came from.
 */
export type { Endpoint, ServiceBackend, UpstreamProtocol } from "./backend.ts";
export type {
  AuthType,
  Direction,
  EndpointPolicy,
  IpcacheEntry,
  L4Protocol,
  LocalEndpoint,
  PolicyEntry,
  SecurityIdentity,
} from "./endpoint-policy.ts";
export type * from "./gateway.ts";
export type { MeshService } from "./mesh-service.ts";
export type { DataPlaneRejection, DataPlaneResource } from "./rejection.ts";
export type { ResourceRef } from "./resource-ref.ts";
export type { Result } from "./result.ts";
export type { Condition, ObjectStatus } from "./status.ts";
