/**
 * The agent's mutual-auth settings, in the agent's flag / environment /
 * config-file scheme (spread into AGENT_SETTINGS).
 */
import type { SettingSpec } from "../controller/config.ts";

function both(value: string) {
  return { standaloneDefault: value, clusterDefault: value } as const;
}

export const AUTH_SETTINGS = [
  {
    flag: "auth-provider",
    key: "authProvider",
    env: "STRAIT_AUTH_PROVIDER",
    type: "string",
    description:
      "Where SVIDs come from for mutual auth: none (auth-required flows stay blocked), builtin-ca, spire, or cert-manager.",
    ...both("none"),
  },
  {
    flag: "trust-domain",
    key: "trustDomain",
    env: "STRAIT_TRUST_DOMAIN",
    type: "string",
    description: "SPIFFE trust domain; identity N is spiffe://<trust-domain>/identity/N.",
    ...both("strait.local"),
  },
  {
    flag: "auth-address",
    key: "authAddress",
    env: "STRAIT_AUTH_ADDRESS",
    type: "string",
    description: "HOST:PORT where this agent answers other agents' mutual-auth handshakes (TLS 1.3).",
    ...both("0.0.0.0:4250"),
  },
  {
    flag: "auth-peer-port",
    key: "authPeerPort",
    env: "STRAIT_AUTH_PEER_PORT",
    type: "string",
    description: "Port of the other agents' handshake servers (default: the port of --auth-address).",
  },
  {
    flag: "builtin-ca-url",
    key: "builtinCaUrl",
    env: "STRAIT_BUILTIN_CA_URL",
    type: "string",
    description: "https://HOST:PORT of the controller's SVID issuer (auth provider builtin-ca).",
  },
  {
    flag: "builtin-ca-root",
    key: "builtinCaRoot",
    env: "STRAIT_BUILTIN_CA_ROOT",
    type: "string",
    description: "PEM file of the built-in CA's root (the Secret's ca.crt), which the agent trusts.",
  },
  {
    flag: "builtin-ca-token-file",
    key: "builtinCaTokenFile",
    env: "STRAIT_BUILTIN_CA_TOKEN_FILE",
    type: "string",
    description: "File holding this node's token for the SVID issuer.",
  },
  {
    flag: "spire-admin-socket",
    key: "spireAdminSocket",
    env: "STRAIT_SPIRE_ADMIN_SOCKET",
    type: "string",
    description: "The SPIRE agent's admin socket (Delegated Identity API; auth provider spire).",
    ...both("/run/spire/sockets/admin.sock"),
  },
  {
    flag: "cert-manager-issuer",
    key: "certManagerIssuer",
    env: "STRAIT_CERT_MANAGER_ISSUER",
    type: "string",
    description:
      "The cert-manager issuer that signs the identities' CertificateRequests (auth provider cert-manager): KIND/NAME, e.g. ClusterIssuer/strait-ca, or KIND.GROUP/NAME for an external issuer.",
  },
  {
    flag: "cert-manager-namespace",
    key: "certManagerNamespace",
    env: "STRAIT_CERT_MANAGER_NAMESPACE",
    type: "string",
    description:
      "Namespace the agent makes its CertificateRequests in (default: the pod's namespace, else strait-system).",
  },
  {
    flag: "cert-manager-ca",
    key: "certManagerCa",
    env: "STRAIT_CERT_MANAGER_CA",
    type: "string",
    description:
      "PEM file of the issuer's root(s), which the agent trusts (out of band, e.g. a trust-manager bundle; never the ca a response carries).",
  },
  {
    flag: "kubeconfig",
    key: "kubeconfig",
    env: "STRAIT_KUBECONFIG",
    type: "string",
    description:
      "kubeconfig the agent reaches the API server with (auth provider cert-manager; default: the in-cluster service account, else ~/.kube/config).",
  },
] as const satisfies readonly SettingSpec[];
