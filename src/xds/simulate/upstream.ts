/**
 * Upstream choice: the cluster (one, or one of weighted clusters by the
 * random value, as Envoy draws it), then a healthy endpoint of its load
 * assignment. Round robin and random balancing are both modelled as a draw
 * over the healthy endpoints, so a simulation with a given random value is
 * reproducible.
 */
import { X509Certificate } from "node:crypto";
import type {
  envoy_config_cluster_v3_Cluster as Cluster,
  envoy_config_endpoint_v3_ClusterLoadAssignment as ClusterLoadAssignment,
  envoy_config_route_v3_WeightedCluster_ClusterWeight as ClusterWeight,
  envoy_config_route_v3_RouteAction as RouteAction,
} from "../proto/envoy-types.ts";
import { unpackAny } from "../proto/pack-any.ts";
import { stringMatches } from "./matchers.ts";
import type { NodeConfig } from "./node-config.ts";
import type { Endpoint, UpstreamTlsInfo } from "./types.ts";

export interface WeightedChoice {
  readonly cluster: string;
  readonly entry?: ClusterWeight;
  readonly all?: readonly { readonly cluster: string; readonly weight: number }[];
}

export function chooseCluster(action: RouteAction, random: number): WeightedChoice | undefined {
  if (typeof action.cluster === "string") return { cluster: action.cluster };
  const weighted = action.weighted_clusters?.clusters;
  if (weighted === undefined || weighted.length === 0) return undefined;
  const all = weighted.map((c) => ({ cluster: String(c.name), weight: Number(c.weight ?? 0) }));
  const total = all.reduce((n, c) => n + c.weight, 0);
  if (total <= 0) return undefined;
  let point = random * total;
  for (let i = 0; i < weighted.length; i++) {
    const w = all[i]?.weight ?? 0;
    const entry = weighted[i];
    if (point < w) return { cluster: all[i]?.cluster ?? "", ...(entry === undefined ? {} : { entry }), all };
    point -= w;
  }
  const last = weighted.length - 1;
  const entry = weighted[last];
  return { cluster: all[last]?.cluster ?? "", ...(entry === undefined ? {} : { entry }), all };
}

const UNHEALTHY = new Set(["UNHEALTHY", "DRAINING", "TIMEOUT"]);

export function clusterEndpoints(config: NodeConfig, cluster: Cluster): Endpoint[] {
  const type = String(cluster.type ?? "STATIC");
  let assignment: ClusterLoadAssignment | undefined;
  if (type === "EDS") {
    const serviceName = cluster.eds_cluster_config?.service_name ?? String(cluster.name);
    assignment = config.loadAssignments.get(serviceName);
  } else {
    assignment = cluster.load_assignment;
  }
  const out: Endpoint[] = [];
  for (const locality of assignment?.endpoints ?? []) {
    const zone = locality.locality?.zone;
    for (const lb of locality.lb_endpoints ?? []) {
      if (UNHEALTHY.has(String(lb.health_status ?? "UNKNOWN"))) continue;
      const address = lb.endpoint?.address?.socket_address?.address;
      const port = lb.endpoint?.address?.socket_address?.port_value;
      if (address === undefined || port === undefined) continue;
      out.push({ address, port, ...(zone === undefined || zone === "" ? {} : { zone }) });
    }
  }
  return out;
}

export function pickEndpoint(endpoints: readonly Endpoint[], random: number): Endpoint | undefined {
  if (endpoints.length === 0) return undefined;
  return endpoints[Math.min(endpoints.length - 1, Math.floor(random * endpoints.length))];
}

/** The TLS a cluster originates: SNI, trusted CAs, the names the server certificate must carry. */
export function upstreamTls(config: NodeConfig, cluster: Cluster): UpstreamTlsInfo | undefined {
  const socket = cluster.transport_socket;
  if (socket === undefined) return undefined;
  const ctx =
    unpackAny(socket.typed_config, "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext") ?? {};
  const common = ctx.common_tls_context ?? {};
  const combined = common.combined_validation_context;
  const validation = combined?.default_validation_context ?? common.validation_context ?? {};
  const bundleName = combined?.validation_context_sds_secret_config?.name;
  const trustedCaPem =
    bundleName === undefined
      ? validation.trusted_ca?.inline_string
      : config.secrets.get(bundleName)?.validation_context?.trusted_ca?.inline_string;
  const sans = (validation.match_typed_subject_alt_names ?? []).map((m) => ({
    type: String(m.san_type ?? "DNS"),
    matcher: m.matcher ?? {},
  }));
  const clientCertificate = (common.tls_certificate_sds_secret_configs ?? [])[0]?.name;
  const sni = typeof ctx.sni === "string" && ctx.sni !== "" ? ctx.sni : undefined;
  return {
    ...(sni === undefined ? {} : { sni }),
    ...(trustedCaPem === undefined ? {} : { trustedCaPem }),
    ...(bundleName === undefined ? {} : { trustBundle: bundleName }),
    ...(validation.trusted_ca?.filename === undefined ? {} : { systemTrust: true }),
    subjectAltNames: sans,
    ...(typeof clientCertificate === "string" ? { clientCertificate } : {}),
  };
}

/**
 * Verifies a backend's server certificate as Envoy's upstream TLS would:
 * chain to a trusted CA (when a validation context is set) and, when SAN
 * matchers are configured, carry one of those names.
 */
export function verifyServerCertificate(tls: UpstreamTlsInfo, certificatePem: string): string | undefined {
  const pems = certificatePem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const leafPem = pems[0];
  if (leafPem === undefined) return "the backend presented no certificate";
  const leaf = new X509Certificate(leafPem);
  if (tls.trustedCaPem !== undefined) {
    const roots = (
      tls.trustedCaPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []
    ).map((p) => new X509Certificate(p));
    if (!roots.some((r) => leaf.checkIssued(r) && leaf.verify(r.publicKey)))
      return "the backend certificate is not signed by a trusted CA";
  } else if (tls.systemTrust !== true && tls.trustBundle !== undefined) {
    return `CA bundle ${tls.trustBundle} is not on the node`;
  }
  if (tls.subjectAltNames.length > 0) {
    const names = (leaf.subjectAltName ?? "").split(",").map((s) => s.trim());
    const ok = tls.subjectAltNames.some((m) => {
      const prefix = m.type === "URI" ? "URI:" : m.type === "IP_ADDRESS" ? "IP Address:" : "DNS:";
      return names.some((n) => n.startsWith(prefix) && stringMatches(m.matcher, n.slice(prefix.length)));
    });
    if (!ok) return "the backend certificate carries none of the required subject alternative names";
  }
  return undefined;
}
