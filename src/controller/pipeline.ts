/**
 * One pass of the pure pipeline: objects → gateway model + statuses → Envoy
 * resources. The running controller, `strait translate`/`status`/`simulate`
 * and the conformance runner all call this one function.
 */
import { applyDataPlaneRejections } from "../gateway/data-plane-rejections.ts";
import { GatewayCache, type OwnedObject, translateGateways } from "../gateway/index.ts";
import type { GatewayModel } from "../model/gateway.ts";
import type { DataPlaneRejection } from "../model/rejection.ts";
import type { ObjectStatus } from "../model/status.ts";
import type { ResourceView } from "../resources/view.ts";
import { type EnvoyResourceSet, translateGatewayModel, XdsCache } from "../xds/translate/index.ts";

/** State kept between passes so a small change re-translates only what it touches. */
export class PipelineCache {
  readonly gateway = new GatewayCache();
  readonly xds = new XdsCache();
}

export interface PipelineOptions {
  readonly now: Date;
  /** Pass the same cache to every run to translate incrementally. */
  readonly cache?: PipelineCache;
  /** Addresses Gateways get their own address from (IPv4 addresses, `a-b` ranges, CIDRs). */
  readonly addressPool: readonly string[];
  readonly controllerName?: string;
  /** Resources the data plane refused (Envoy's NACKs): shown on what produced them. */
  readonly rejections?: readonly DataPlaneRejection[];
}

export interface PipelineOutput {
  readonly model: GatewayModel;
  readonly statuses: readonly ObjectStatus[];
  readonly resources: EnvoyResourceSet;
  /** Objects strait creates in the cluster (per-Gateway Services). */
  readonly ownedObjects: readonly OwnedObject[];
}

/** Standalone default: loopback addresses, so each Gateway can bind its own on one machine. */
export const DEFAULT_STANDALONE_ADDRESS_POOL: readonly string[] = ["127.0.1.0/24"];

export function runPipeline(view: ResourceView, options: PipelineOptions): PipelineOutput {
  const { model, statuses, ownedObjects } = translateGateways(view, {
    now: options.now,
    addressPool: options.addressPool,
    ...(options.cache === undefined ? {} : { cache: options.cache.gateway }),
    ...(options.controllerName === undefined ? {} : { controllerName: options.controllerName }),
  });
  return {
    model,
    statuses: applyDataPlaneRejections(view, model, statuses, options.rejections ?? [], options.now),
    ownedObjects,
    resources: translateGatewayModel(model, options.cache?.xds),
  };
}
