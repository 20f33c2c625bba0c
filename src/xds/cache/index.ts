/**
 * xds/cache: what each xDS client is served. Per-node snapshots of encoded,
 * content-versioned resources, built from the pipeline's output (shared by
 * every node), per-node resources, and resources made on demand for named
 * subscriptions. The server (xds/server) reads snapshots from here and keeps
 * the per-stream protocol state itself.
 */
export type { InvalidResource, ResourceJsonSet } from "./layer-encoder.ts";
export { NODE_KEY_METADATA, type NodeInfo, nodeKey, UNKNOWN_NODE } from "./node.ts";
export type { OnDemandMiss, OnDemandProblem, OnDemandResolver } from "./on-demand.ts";
export { pushRank, typeInfo, XDS_TYPES, type XdsTypeInfo } from "./resource-types.ts";
export { Snapshot } from "./snapshot.ts";
export { type PublishResult, SnapshotCache, type SnapshotCacheOptions } from "./snapshot-cache.ts";
export { emptyTypeSnapshot, type ResourceEntry, TypeSnapshot } from "./type-snapshot.ts";
