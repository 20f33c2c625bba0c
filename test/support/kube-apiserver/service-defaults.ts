/**
 * What the real server fills in on a Service it stores (defaulting, and the
 * allocation of cluster IPs and node ports), so that clients see the Service
 * they wrote come back with more than they wrote, as they do on a cluster.
 * Values allocated before are kept on an update, as the Service REST storage
 * does; only the fields clients of strait meet are covered.
 */
import type { ApiObject } from "./storage.ts";

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export class ServiceDefaulter {
  #nextIp = 10;
  #nextNodePort = 30000;

  /** The Service with the server's defaults; `previous` is the stored version on an update. */
  apply(service: ApiObject, previous: ApiObject | undefined): ApiObject {
    const spec: Obj = isObj(service.spec) ? { ...service.spec } : {};
    const before: Obj = isObj(previous?.spec) ? previous.spec : {};
    spec.type ??= "ClusterIP";
    spec.sessionAffinity ??= "None";
    spec.internalTrafficPolicy ??= "Cluster";
    if (spec.type !== "ExternalName") {
      spec.clusterIP ??= before.clusterIP ?? this.#ip();
      spec.clusterIPs ??= [spec.clusterIP];
      spec.ipFamilies ??= ["IPv4"];
      spec.ipFamilyPolicy ??= "SingleStack";
    }
    const external = spec.type === "NodePort" || spec.type === "LoadBalancer";
    if (external) spec.externalTrafficPolicy ??= "Cluster";
    if (spec.type === "LoadBalancer") spec.allocateLoadBalancerNodePorts ??= true;
    const oldPorts = Array.isArray(before.ports) ? before.ports.filter(isObj) : [];
    if (Array.isArray(spec.ports)) {
      spec.ports = spec.ports.map((p: unknown) => {
        if (!isObj(p)) return p;
        const port: Obj = { ...p, protocol: p.protocol ?? "TCP" };
        port.targetPort ??= port.port;
        if (external && port.nodePort === undefined) {
          const old = oldPorts.find((o) => o.port === port.port && (o.protocol ?? "TCP") === port.protocol);
          port.nodePort = old?.nodePort ?? this.#nextNodePort++;
        }
        return port;
      });
    }
    const status = isObj(service.status) ? service.status : (previous?.status ?? { loadBalancer: {} });
    return { ...service, spec, status };
  }

  #ip(): string {
    const n = this.#nextIp++;
    return `10.96.${Math.floor(n / 256)}.${n % 256}`;
  }
}
