/**
 * Resolves proxyless gRPC targets against the store: a Listener name like
 * `svc.ns.svc.cluster.local:8080` becomes the resources of that Service port
 * (xds/translate/proxyless.ts), built from the Service and its
 * EndpointSlices exactly as a gateway backend is. Unknown Services or ports
 * resolve to nothing, which the client sees as "does not exist"; the reason
 * is kept as a miss, which `/readyz?verbose` (check `proxyless-targets`) and
 * `strait_xds_proxyless_unresolved` report.
 */
import { resolveServiceBackend } from "../gateway/service-backends.ts";
import type { ResourceView } from "../resources/view.ts";
import type { OnDemandResolver } from "../xds/cache/index.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import { buildProxylessResources, parseServiceTarget } from "../xds/translate/proxyless.ts";

export function proxylessResolver(view: ResourceView, clusterDomain?: string): OnDemandResolver {
  return (typeUrl, name) => {
    if (typeUrl !== TYPE_URLS.listener) return undefined;
    // Gateway listeners are named `ns/gateway/port` and served whole: such a name is not a target.
    if (name.includes("/")) return undefined;
    const target = parseServiceTarget(name, clusterDomain);
    if (target === undefined) {
      return { missing: "not a Service target (SERVICE.NAMESPACE[.svc[.CLUSTER-DOMAIN]][:PORT])" };
    }
    let port = target.port;
    if (port === undefined) {
      // `xds:///svc.ns` without a port: the Service's port, if it has only one.
      const service = view.get("Service", target.namespace, target.service);
      if (service === undefined)
        return { missing: `Service ${target.namespace}/${target.service} not found` };
      const ports = (service.spec?.ports ?? []) as { port?: number }[];
      if (ports.length !== 1 || ports[0]?.port === undefined) {
        return {
          missing: `no port in the target and Service ${target.namespace}/${target.service} has ${ports.length} ports: name one (${name}:PORT)`,
        };
      }
      port = ports[0].port;
    }
    const backend = resolveServiceBackend(view, target.namespace, target.service, port);
    return backend.ok
      ? buildProxylessResources(name, backend.value)
      : { missing: `${backend.error.reason}: ${backend.error.message}` };
  };
}
