/**
 * The Service strait creates for each of its Gateways: the stable front of
 * the Gateway's address, selecting the node Envoys (the strait-envoy
 * DaemonSet) on the Gateway's listener ports. It carries the Gateway's
 * `spec.infrastructure` labels and annotations (GatewayInfrastructurePropagation)
 * and the `gateway.networking.k8s.io/gateway-name` label, and is owned by the
 * Gateway so Kubernetes deletes it with the Gateway.
 */
import type { GatewayState } from "./gateway.ts";

export interface OwnedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name: string;
    readonly namespace: string;
    readonly labels: Readonly<Record<string, string>>;
    readonly annotations: Readonly<Record<string, string>>;
    readonly ownerReferences: readonly Readonly<Record<string, unknown>>[];
  };
  readonly spec: Readonly<Record<string, unknown>>;
}

export const GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name";

export function gatewayService(state: GatewayState): OwnedObject {
  const gw = state.gateway;
  const infra = gw.spec.infrastructure ?? {};
  const ports = [...new Map(state.listeners.map((l) => [l.port, l])).values()]
    .sort((a, b) => a.port - b.port)
    .map((l) => ({ name: `port-${l.port}`, port: l.port, targetPort: l.port, protocol: "TCP" }));
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name: `${state.name}-strait`,
      namespace: state.namespace,
      labels: {
        ...(infra.labels ?? {}),
        [GATEWAY_NAME_LABEL]: state.name,
        "app.kubernetes.io/managed-by": "strait",
      },
      annotations: { ...(infra.annotations ?? {}) },
      ownerReferences: [
        {
          apiVersion: "gateway.networking.k8s.io/v1",
          kind: "Gateway",
          name: state.name,
          uid: gw.metadata.uid ?? "",
          controller: true,
        },
      ],
    },
    spec: {
      type: "LoadBalancer",
      selector: { "app.kubernetes.io/name": "strait-envoy" },
      ports,
      ...(state.address === undefined ? {} : { loadBalancerIP: state.address }),
    },
  };
}
