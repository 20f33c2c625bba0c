/**
 * Resolves proxyless gRPC targets against the store: a Listener name like
 * `svc.ns.svc.cluster.local:8080` becomes the resources of that Service port
 * (xds/translate/proxyless.ts), built from the Service and its
 * EndpointSlices exactly as a gateway backend is. Unknown Services or ports
 * resolve to nothing, which the client sees as "does not exist".
 */
import { resolveServiceBackend } from "../gateway/service-backends.ts";
import type { ResourceView } from "../resources/view.ts";
import type { OnDemandResolver } from "../xds/cache/index.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import { buildProxylessResources, parseServiceTarget } from "../xds/translate/proxyless.ts";

export function proxylessResolver(view: ResourceView, clusterDomain?: string): OnDemandResolver {
  return (typeUrl, name) => {
    if (typeUrl !== TYPE_URLS.listener) return undefined;
    const target = parseServiceTarget(name, clusterDomain);
    if (target === undefined) return undefined;
    let port = target.port;
    if (port === undefined) {
      // `xds:///svc.ns` without a port: the Service's port, if it has only one.
      const ports = (view.get("Service", target.namespace, target.service)?.spec?.ports ?? []) as {
        port?: number;
      }[];
      if (ports.length !== 1) return undefined;
      port = ports[0]?.port;
      if (port === undefined) return undefined;
    }
    const backend = resolveServiceBackend(view, target.namespace, target.service, port);
    return backend.ok ? buildProxylessResources(name, backend.value) : undefined;
  };
}
