/**
 * One pass of the pure pipeline: objects → gateway model + statuses → Envoy
 * resources, and objects → policy (identities, per-node policy) → each
 * node's agent and Envoy resources. The running controller, `strait
 * translate`/`status`/`simulate`, `strait policy trace` and the conformance
 * runner all call this one function.
 */
import { applyDataPlaneRejections } from "../gateway/data-plane-rejections.ts";
import { GatewayCache, type GatewayOutput, type OwnedObject, translateGateways } from "../gateway/index.ts";
import type { Exclusion } from "../model/exclusion.ts";
import type { GatewayModel } from "../model/gateway.ts";
import { MESH_LISTENER_NAME } from "../model/mesh-service.ts";
import type { DataPlaneRejection } from "../model/rejection.ts";
import type { ObjectStatus } from "../model/status.ts";
import {
  type CiliumIdentityObject,
  computePolicy,
  type IdentityRecord,
  identityObjects,
  PolicyCache,
  type PolicyOutput,
} from "../policy/index.ts";
import type { ResourceView } from "../resources/view.ts";
import { TYPE_URLS } from "../xds/proto/envoy-protos.ts";
import { agentResources, meshServiceResources } from "../xds/translate/agent-resources.ts";
import { encryptionResources } from "../xds/translate/encryption.ts";
import { type EnvoyResourceSet, translateGateway, XdsCache } from "../xds/translate/index.ts";
import { l7Resources } from "../xds/translate/l7-policy.ts";
import type { EnvoyResourceJson } from "../xds/translate/resource-set.ts";

/** State kept between passes so a small change re-translates only what it touches. */
export class PipelineCache {
  readonly gateway = new GatewayCache();
  readonly xds = new XdsCache();
  readonly policy = new PolicyCache();
}

export interface PolicySettings {
  readonly clusterName?: string;
  /** SPIFFE trust domain of the identities (`spiffe://<trust-domain>/identity/<id>`). */
  readonly trustDomain?: string;
  /** Where each node's Envoy writes the JSON access log of proxied requests (the agent reads it). */
  readonly accessLog?: string;
  /** Identities recorded earlier (the view's CiliumIdentity objects come first). */
  readonly identityRecords?: readonly IdentityRecord[];
  /** How long an identity no pod has keeps its number before it is garbage-collected. */
  readonly identityGcAfterMs?: number;
  /** `--auth-encryption envoy`: the tunnel's port and the folder of the agents' SDS sockets. */
  readonly encryption?: { readonly tunnelPort: number; readonly sdsDir: string };
}

export const DEFAULT_TRUST_DOMAIN = "strait.local";
export const DEFAULT_L7_ACCESS_LOG = "/run/strait/envoy-access.log";

/** A node's own xDS resources by type URL, then name: its agent's types and its Envoy's L7 listeners. */
export type NodeResources = Readonly<Record<string, ReadonlyMap<string, EnvoyResourceJson>>>;

export interface PipelineOptions {
  readonly now: Date;
  /** Pass the same cache to every run to translate incrementally. */
  readonly cache?: PipelineCache;
  /** Addresses Gateways get their own address from (IPv4 addresses, `a-b` ranges, CIDRs). */
  readonly addressPool: readonly string[];
  /** Addresses Gateways were given before (the last output's `addresses`). */
  readonly addresses?: ReadonlyMap<string, string>;
  readonly controllerName?: string;
  /** Resources the data plane refused (Envoy's NACKs): shown on what produced them. */
  readonly rejections?: readonly DataPlaneRejection[];
  readonly policy?: PolicySettings;
}

export interface PipelineOutput {
  readonly model: GatewayModel;
  readonly statuses: readonly ObjectStatus[];
  readonly resources: EnvoyResourceSet;
  /**
   * Parts translation left out of `resources` because they do not encode as
   * Envoy would accept them (each also in the status of the objects it came
   * from, where those have a status).
   */
  readonly excluded: readonly Exclusion[];
  /** Objects strait creates in the cluster (per-Gateway Services). */
  readonly ownedObjects: readonly OwnedObject[];
  /** Per Ingress, paths and TLS entries that are not served, and why. */
  readonly ingressProblems: GatewayOutput["ingressProblems"];
  /** Each Gateway's address, by `namespace/name`: pass it as `addresses` next time. */
  readonly addresses: ReadonlyMap<string, string>;
  readonly policy: PolicyOutput;
  /** The workload identities as the leader records them in the API. */
  readonly identityObjects: readonly CiliumIdentityObject[];
  /** Per node (by Kubernetes node name): what its agent and its Envoy get on top of the shared resources. */
  readonly nodeResources: ReadonlyMap<string, NodeResources>;
  /**
   * What every node's agent gets beside `resources` (shared by all nodes): the
   * mesh services (strait.v1.MeshService) whose flows it steers to the mesh listener.
   */
  readonly sharedAgentResources: NodeResources;
}

/**
 * What the xDS cache's shared layer holds, for every client: the Envoy
 * resources and the agents' shared types (each client subscribes only to its
 * own types, so Envoys never get the mesh services, agents never the
 * listeners), without the mesh listener, which only Kubernetes nodes' Envoys
 * get (`forEveryNode`).
 */
export function sharedResources(output: PipelineOutput): NodeResources {
  const listeners = output.resources[TYPE_URLS.listener];
  if (!listeners.has(MESH_LISTENER_NAME)) return { ...output.resources, ...output.sharedAgentResources };
  const withoutMesh = new Map(listeners);
  withoutMesh.delete(MESH_LISTENER_NAME);
  return { ...output.resources, [TYPE_URLS.listener]: withoutMesh, ...output.sharedAgentResources };
}

/**
 * What every Kubernetes node's Envoy gets beside the shared layer: the mesh
 * listener. It binds transparently (which needs CAP_NET_ADMIN) and serves only
 * what the node agent's TPROXY rules steer to it, so an Envoy without an agent
 * (standalone mode's managed one, often unprivileged) is not given it.
 */
export function forEveryNode(output: PipelineOutput): NodeResources {
  const mesh = output.resources[TYPE_URLS.listener].get(MESH_LISTENER_NAME);
  return mesh === undefined ? {} : { [TYPE_URLS.listener]: new Map([[MESH_LISTENER_NAME, mesh]]) };
}

/** Standalone default: loopback addresses, so each Gateway can bind its own on one machine. */
export const DEFAULT_STANDALONE_ADDRESS_POOL: readonly string[] = ["127.0.1.0/24"];

export function runPipeline(view: ResourceView, options: PipelineOptions): PipelineOutput {
  const { model, statuses, ownedObjects, ingressProblems, addresses } = translateGateways(view, {
    now: options.now,
    addressPool: options.addressPool,
    ...(options.addresses === undefined ? {} : { addresses: options.addresses }),
    ...(options.cache === undefined ? {} : { cache: options.cache.gateway }),
    ...(options.controllerName === undefined ? {} : { controllerName: options.controllerName }),
  });
  const settings = options.policy ?? {};
  const policy = computePolicy(view, {
    now: options.now,
    ...(settings.clusterName === undefined ? {} : { clusterName: settings.clusterName }),
    ...(settings.identityRecords === undefined ? {} : { records: settings.identityRecords }),
    ...(settings.identityGcAfterMs === undefined ? {} : { identityGcAfterMs: settings.identityGcAfterMs }),
    ...(options.cache === undefined ? {} : { cache: options.cache.policy }),
    ...(settings.encryption === undefined
      ? {}
      : {
          encryption: {
            tunnelPort: settings.encryption.tunnelPort,
            trustDomain: settings.trustDomain ?? DEFAULT_TRUST_DOMAIN,
          },
        }),
  });
  const nodeResources = new Map<string, NodeResources>();
  for (const node of policy.nodes) {
    const l7 = l7Resources(node, { accessLog: settings.accessLog ?? DEFAULT_L7_ACCESS_LOG });
    const tunnel =
      settings.encryption === undefined
        ? undefined
        : encryptionResources(node, { sdsDir: settings.encryption.sdsDir });
    const listeners = new Map([...l7.listeners, ...(tunnel?.listeners ?? [])]);
    const clusters = new Map([...l7.clusters, ...(tunnel?.clusters ?? [])]);
    nodeResources.set(node.node, {
      ...agentResources(node, { trustDomain: settings.trustDomain ?? DEFAULT_TRUST_DOMAIN }),
      ...(listeners.size === 0 ? {} : { [TYPE_URLS.listener]: listeners, [TYPE_URLS.cluster]: clusters }),
      ...(tunnel === undefined || tunnel.routes.size === 0
        ? {}
        : { [TYPE_URLS.routeConfiguration]: tunnel.routes }),
    });
  }
  const { resources, excluded } = translateGateway(model, options.cache?.xds);
  return {
    model,
    statuses: [
      ...applyDataPlaneRejections(view, model, statuses, options.rejections ?? [], options.now, excluded),
      ...policy.statuses,
    ],
    ownedObjects,
    addresses,
    resources,
    excluded,
    ingressProblems,
    policy,
    identityObjects: identityObjects(policy.records),
    nodeResources,
    sharedAgentResources: meshServiceResources(model.mesh.services),
  };
}
