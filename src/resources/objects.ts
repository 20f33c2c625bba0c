/**
 * Typed Kubernetes objects as strait reads them. The shapes come from the
 * maintained model packages (kubernetes-models, @kubernetes-models/gateway-api,
 * @kubernetes-models/cilium), which are generated from the upstream schemas;
 * strait only makes `metadata.name` required, since every stored object has one.
 */

import type { ICiliumClusterwideNetworkPolicy } from "@kubernetes-models/cilium/cilium.io/v2/CiliumClusterwideNetworkPolicy";
import type { ICiliumIdentity } from "@kubernetes-models/cilium/cilium.io/v2/CiliumIdentity";
import type { ICiliumNetworkPolicy } from "@kubernetes-models/cilium/cilium.io/v2/CiliumNetworkPolicy";
import type { IBackendTLSPolicy } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/BackendTLSPolicy";
import type { IGateway } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/Gateway";
import type { IGatewayClass } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GatewayClass";
import type { IGRPCRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/GRPCRoute";
import type { IHTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute";
import type { IListenerSet } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ListenerSet";
import type { IReferenceGrant } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/ReferenceGrant";
import type { ITLSRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/TLSRoute";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1/EndpointSlice";
import type { IIngress } from "kubernetes-models/networking.k8s.io/v1/Ingress";
import type { IIngressClass } from "kubernetes-models/networking.k8s.io/v1/IngressClass";
import type { IConfigMap } from "kubernetes-models/v1/ConfigMap";
import type { INamespace } from "kubernetes-models/v1/Namespace";
import type { INode } from "kubernetes-models/v1/Node";
import type { IPod } from "kubernetes-models/v1/Pod";
import type { ISecret } from "kubernetes-models/v1/Secret";
import type { IService } from "kubernetes-models/v1/Service";
import type { KindName } from "./kinds.ts";

/** The metadata fields strait relies on; `name` is always present on a stored object. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Any Kubernetes object, before it is known to be one of the kinds strait reads. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  [field: string]: unknown;
}

interface KindTypes {
  GatewayClass: IGatewayClass;
  Gateway: IGateway;
  HTTPRoute: IHTTPRoute;
  GRPCRoute: IGRPCRoute;
  TLSRoute: ITLSRoute;
  ListenerSet: IListenerSet;
  ReferenceGrant: IReferenceGrant;
  BackendTLSPolicy: IBackendTLSPolicy;
  Ingress: IIngress;
  IngressClass: IIngressClass;
  Service: IService;
  EndpointSlice: IEndpointSlice;
  Secret: ISecret;
  ConfigMap: IConfigMap;
  Namespace: INamespace;
  Pod: IPod;
  Node: INode;
  CiliumNetworkPolicy: ICiliumNetworkPolicy;
  CiliumClusterwideNetworkPolicy: ICiliumClusterwideNetworkPolicy;
  CiliumIdentity: ICiliumIdentity;
}

/** A stored object of kind K: the upstream shape with `metadata.name` required. */
export type ObjectOf<K extends KindName> = Omit<KindTypes[K], "metadata" | "apiVersion"> & {
  apiVersion: string;
  metadata: ObjectMeta;
};

export type AnyStoredObject = { [K in KindName]: ObjectOf<K> }[KindName];

/** Identity of a stored object. Cluster-scoped objects have namespace "". */
export interface ObjectKey {
  readonly kind: KindName;
  readonly namespace: string;
  readonly name: string;
}

/** `Kind/namespace/name` or `Kind/name` for cluster-scoped objects. */
export function formatObjectKey(key: ObjectKey): string {
  return key.namespace === "" ? `${key.kind}/${key.name}` : `${key.kind}/${key.namespace}/${key.name}`;
}

export function objectKeyOf(obj: { kind: string; metadata: ObjectMeta }, kind: KindName): ObjectKey {
  return { kind, namespace: obj.metadata.namespace ?? "", name: obj.metadata.name };
}
