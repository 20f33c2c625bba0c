/**
 * The xDS translation stage: the model → Envoy resources (proto3 JSON), one
 * function per resource type. Pure: same model, same resources.
 */
import type { GatewayModel } from "../../model/gateway.ts";
import { TYPE_URLS } from "../proto/envoy-protos.ts";
import { buildCluster } from "./cluster.ts";
import { buildClusterLoadAssignment } from "./cluster-load-assignment.ts";
import { buildListener } from "./listener.ts";
import { type EnvoyResourceJson, type EnvoyResourceSet, emptyResourceSet } from "./resource-set.ts";
import { buildRouteConfiguration } from "./route-configuration.ts";
import { buildCaBundleSecret, buildCertificateSecret } from "./secret.ts";

export {
  type EnvoyResourceJson,
  type EnvoyResourceSet,
  emptyResourceSet,
  TYPE_ORDER,
} from "./resource-set.ts";

export function translateGatewayModel(model: GatewayModel): EnvoyResourceSet {
  const set = emptyResourceSet();
  const put = (typeUrl: keyof typeof set, json: EnvoyResourceJson, name: string) => {
    (set[typeUrl] as Map<string, EnvoyResourceJson>).set(name, json);
  };
  for (const port of model.ports) put(TYPE_URLS.listener, buildListener(port), port.name);
  for (const table of model.routeTables)
    put(TYPE_URLS.routeConfiguration, buildRouteConfiguration(table), table.name);
  for (const backend of model.backends) {
    put(TYPE_URLS.cluster, buildCluster(backend), backend.clusterName);
    put(TYPE_URLS.clusterLoadAssignment, buildClusterLoadAssignment(backend), backend.clusterName);
  }
  for (const cert of model.certificates) put(TYPE_URLS.secret, buildCertificateSecret(cert), cert.name);
  for (const bundle of model.caBundles) {
    const json = buildCaBundleSecret(bundle);
    put(TYPE_URLS.secret, json, String(json.name));
  }
  return set;
}
