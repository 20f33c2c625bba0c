/**
 * Listener and filter chain selection, and the TLS handshake of the chosen
 * chain. Envoy picks the listener bound to the destination address and port
 * (a 0.0.0.0 listener serves any address), then the filter chain whose
 * FilterChainMatch is most specific in Envoy's order: destination port, then
 * destination address (longest `prefix_ranges` match), then server name
 * (exact before wildcard, longer wildcard first, no names last), then
 * transport protocol, then application protocols, then the client's address
 * (longest `source_prefix_ranges` match; a chain with source ranges never
 * matches a client of unknown address).
 *
 * A flow the datapath redirected to the mesh listener (GAMMA) arrives there
 * with its original destination as the socket's local address, which is
 * what the mesh chains match.
 */
import { X509Certificate } from "node:crypto";
import { MESH_PROXY_PORT } from "../../model/mesh-service.ts";
import { parseIpv4, parseIpv4PrefixCached, prefixContainsAddress } from "../../net/ipv4.ts";
import type {
  envoy_config_core_v3_CidrRange as CidrRange,
  envoy_config_listener_v3_FilterChain as FilterChain,
  envoy_config_listener_v3_Listener as Listener,
} from "../proto/envoy-types.ts";
import { unpackAny } from "../proto/pack-any.ts";
import type { NodeConfig } from "./node-config.ts";
import type { SimRequest } from "./types.ts";

export interface ChainChoice {
  readonly listener: Listener;
  readonly chain: FilterChain;
  readonly name: string;
}

export function findListener(config: NodeConfig, address: string, port: number): Listener | undefined {
  return config.listeners.get(`${address}:${port}`) ?? config.listeners.get(`0.0.0.0:${port}`);
}

/** The listener the agent's TPROXY rules send a pod's flow to a mesh Service to: 127.0.0.1:15003. */
export function findMeshListener(config: NodeConfig): Listener | undefined {
  return config.listeners.get(`127.0.0.1:${MESH_PROXY_PORT}`);
}

/**
 * How specifically a chain's address ranges match an address: 0 for no
 * ranges (any address), 1 + the longest matching prefix length, -1 when none
 * matches (or the address is unknown and the chain has ranges).
 */
function prefixScore(ranges: readonly CidrRange[], address: string | undefined): number {
  if (ranges.length === 0) return 0;
  const ip = address === undefined ? undefined : parseIpv4(address);
  if (ip === undefined || !ip.ok) return -1;
  let best = -1;
  for (const r of ranges) {
    const prefix = parseIpv4PrefixCached(`${r.address_prefix ?? ""}/${r.prefix_len ?? 0}`);
    if (prefix.ok && prefixContainsAddress(prefix.value, ip.value))
      best = Math.max(best, 1 + prefix.value.length);
  }
  return best;
}

/** Server-name specificity of a chain for an SNI: higher wins, -1 when it does not match. */
function serverNameScore(names: readonly string[], sni: string | undefined): number {
  if (names.length === 0) return 0;
  if (sni === undefined) return -1;
  const host = sni.toLowerCase();
  let best = -1;
  for (const raw of names) {
    const name = raw.toLowerCase();
    if (name === host) return Number.MAX_SAFE_INTEGER;
    // Envoy: "*.example.com" matches any name ending in ".example.com" (one or more labels).
    if (name.startsWith("*.") && host.endsWith(name.slice(1)) && host.length > name.length - 1)
      best = Math.max(best, name.length);
  }
  return best;
}

export function chooseFilterChain(listener: Listener, request: SimRequest): ChainChoice | undefined {
  const transport = request.tls === undefined ? "raw_buffer" : "tls";
  const alpn = request.tls?.alpn ?? [];
  let best: { chain: FilterChain; score: number[] } | undefined;
  for (const chain of listener.filter_chains ?? []) {
    const m = chain.filter_chain_match ?? {};
    const destinationPort = m.destination_port;
    if (destinationPort !== undefined && destinationPort !== request.port) continue;
    const destinationScore = prefixScore(m.prefix_ranges ?? [], request.address);
    if (destinationScore < 0) continue;
    const sourceScore = prefixScore(m.source_prefix_ranges ?? [], request.remoteAddress);
    if (sourceScore < 0) continue;
    const names = m.server_names ?? [];
    const nameScore = serverNameScore(names, request.tls?.sni);
    if (nameScore < 0) continue;
    const tp = m.transport_protocol;
    if (tp !== undefined && tp !== "" && tp !== transport) continue;
    const protocols = m.application_protocols ?? [];
    if (protocols.length > 0 && !protocols.some((p) => alpn.includes(p))) continue;
    const score = [
      destinationPort === undefined ? 0 : 1,
      destinationScore,
      nameScore,
      tp === undefined ? 0 : 1,
      protocols.length === 0 ? 0 : 1,
      sourceScore,
    ];
    if (best === undefined || compareScores(score, best.score) > 0) best = { chain, score };
  }
  const chain = best?.chain ?? listener.default_filter_chain;
  if (chain === undefined) return undefined;
  return { listener, chain, name: String(chain.name ?? "(unnamed)") };
}

function compareScores(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < a.length; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) - (b[i] ?? 0);
  return 0;
}

export interface Handshake {
  readonly ok: boolean;
  readonly reason: string;
  readonly serverCertificates: readonly string[];
  readonly clientCertificateRequested: boolean;
}

function pemCertificates(pem: string): X509Certificate[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
    (p) => new X509Certificate(p),
  );
}

/** Does `leaf` chain to one of `roots` (signature and issuer name)? */
function verifiedBy(leaf: X509Certificate, roots: readonly X509Certificate[]): boolean {
  return roots.some(
    (root) => leaf.issuer === root.subject && leaf.verify(root.publicKey) && leaf.checkIssued(root),
  );
}

/**
 * The TLS handshake of a chain: a chain with a TLS transport socket needs a
 * TLS client, and a client certificate when the chain requires one, verified
 * against the chain's CA bundle unless it accepts untrusted certificates.
 */
export function handshake(config: NodeConfig, chain: FilterChain, request: SimRequest): Handshake {
  const tlsConfig = unpackAny(
    chain.transport_socket?.typed_config,
    "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
  );
  if (tlsConfig === undefined) {
    if (request.tls !== undefined)
      return {
        ok: false,
        reason: "the filter chain speaks plain TCP, the client started TLS",
        serverCertificates: [],
        clientCertificateRequested: false,
      };
    return { ok: true, reason: "plain TCP", serverCertificates: [], clientCertificateRequested: false };
  }
  if (request.tls === undefined)
    return {
      ok: false,
      reason: "the filter chain terminates TLS, the client sent plain text",
      serverCertificates: [],
      clientCertificateRequested: false,
    };
  const common = tlsConfig.common_tls_context ?? {};
  const certs = (common.tls_certificate_sds_secret_configs ?? []).map((c) => String(c.name));
  for (const name of certs) {
    if (!config.secrets.has(name))
      return {
        ok: false,
        reason: `certificate secret ${name} is not on the node (listener warming)`,
        serverCertificates: certs,
        clientCertificateRequested: false,
      };
  }
  const combined = common.combined_validation_context;
  const caName = combined?.validation_context_sds_secret_config?.name;
  const acceptUntrusted =
    combined?.default_validation_context?.trust_chain_verification === "ACCEPT_UNTRUSTED";
  const requireClient = tlsConfig.require_client_certificate === true;
  const requested = caName !== undefined || requireClient;
  const clientPem = request.tls.clientCertificatePem;
  if (requireClient && (clientPem === undefined || clientPem === "")) {
    return {
      ok: false,
      reason: "the listener requires a client certificate and none was presented",
      serverCertificates: certs,
      clientCertificateRequested: true,
    };
  }
  if (caName !== undefined && clientPem !== undefined && clientPem !== "" && !acceptUntrusted) {
    const bundle = config.secrets.get(caName)?.validation_context?.trusted_ca?.inline_string;
    if (bundle === undefined)
      return {
        ok: false,
        reason: `CA bundle ${caName} is not on the node`,
        serverCertificates: certs,
        clientCertificateRequested: true,
      };
    const leaf = pemCertificates(clientPem)[0];
    if (leaf === undefined || !verifiedBy(leaf, pemCertificates(bundle))) {
      return {
        ok: false,
        reason: `the client certificate is not signed by a CA in ${caName}`,
        serverCertificates: certs,
        clientCertificateRequested: true,
      };
    }
  }
  return {
    ok: true,
    reason: "TLS handshake completed",
    serverCertificates: certs,
    clientCertificateRequested: requested,
  };
}
