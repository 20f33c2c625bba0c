/**
 * Settings of `strait agent`, in the same flag / environment / config-file
 * scheme as `strait run` (src/controller/config.ts).
 */

import { AUTH_SETTINGS } from "../auth/settings.ts";
import type { SettingSpec } from "../controller/config.ts";
import { DEFAULT_PIN_ROOT } from "../datapath/bpf-object.ts";

export const DEFAULT_AGENT_SOCKET = "/run/strait/agent.sock";

function both(value: string) {
  return { standaloneDefault: value, clusterDefault: value } as const;
}

export const AGENT_SETTINGS = [
  {
    flag: "log-level",
    key: "logLevel",
    env: "STRAIT_LOG_LEVEL",
    type: "string",
    description: "Log level: trace, debug, info, warn, error, fatal.",
    ...both("info"),
  },
  {
    flag: "http-address",
    key: "httpAddress",
    env: "STRAIT_AGENT_HTTP_ADDRESS",
    type: "string",
    description: "HOST:PORT of the agent's local API and /healthz, /readyz, /metrics.",
    ...both("127.0.0.1:9091"),
  },
  {
    flag: "api-socket",
    key: "apiSocket",
    env: "STRAIT_AGENT_SOCKET",
    type: "string",
    description: "Unix socket of the same API, for strait-cni and strait observe.",
    ...both(DEFAULT_AGENT_SOCKET),
  },
  {
    flag: "state-dir",
    key: "stateDir",
    env: "STRAIT_AGENT_STATE_DIR",
    type: "string",
    description:
      "Folder where the agent keeps the last applied desired state and the CNI attachments, for restarts.",
    ...both("/run/strait/state"),
  },
  {
    flag: "bpf-root",
    key: "bpfRoot",
    env: "STRAIT_BPF_ROOT",
    type: "string",
    description:
      "bpffs folder where the datapath's maps are pinned (bpffs is mounted on /sys/fs/bpf when missing).",
    ...both(DEFAULT_PIN_ROOT),
  },
  {
    flag: "xds-address",
    key: "xdsAddress",
    env: "STRAIT_XDS_ADDRESS",
    type: "string",
    description:
      "HOST:PORT of the controller's xDS server: the agent's normal source of desired state (its node's endpoints, policies, ipcache, mesh services).",
  },
  {
    flag: "node-name",
    key: "nodeName",
    env: "NODE_NAME",
    type: "string",
    description:
      "The Kubernetes node this agent runs on (whose resources it asks for); the chart sets it from spec.nodeName. Default: the host name.",
  },
  {
    flag: "xds-tls-cert",
    key: "xdsTlsCert",
    env: "STRAIT_AGENT_XDS_TLS_CERT",
    type: "string",
    description:
      "Client certificate (PEM) for TLS to the xDS server; with --xds-tls-key and --xds-ca. Plaintext without.",
  },
  {
    flag: "xds-tls-key",
    key: "xdsTlsKey",
    env: "STRAIT_AGENT_XDS_TLS_KEY",
    type: "string",
    description: "Private key (PEM) of --xds-tls-cert.",
  },
  {
    flag: "xds-ca",
    key: "xdsCa",
    env: "STRAIT_AGENT_XDS_CA",
    type: "string",
    description: "CA certificate (PEM) the xDS server's certificate chains to.",
  },
  {
    flag: "xds-tls-builtin-ca",
    key: "xdsTlsBuiltinCa",
    env: "STRAIT_AGENT_XDS_TLS_BUILTIN_CA",
    type: "boolean",
    description:
      "TLS to the xDS server with a client certificate from the built-in CA's issuer (--builtin-ca-url, --builtin-ca-root, --builtin-ca-token-file), renewed at half its lifetime; the server must present the controller's certificate from the same CA. Instead of --xds-tls-cert, --xds-tls-key and --xds-ca.",
  },
  {
    flag: "envoy-xds-cert-dir",
    key: "envoyXdsCertDir",
    env: "STRAIT_ENVOY_XDS_CERT_DIR",
    type: "string",
    description:
      "With --xds-tls-builtin-ca: the folder where the agent keeps the node's Envoy's xDS client certificate, as a file-based SDS secret (xds-client.yaml) that Envoy's bootstrap watches; renewed at half its lifetime.",
  },
  {
    flag: "envoy-sds-dir",
    key: "envoySdsDir",
    env: "STRAIT_ENVOY_SDS_DIR",
    type: "string",
    description:
      "For the controller's --auth-encryption envoy: the folder (its --auth-encryption-sds-dir, usually /run/strait/envoy-sds) where the agent serves its node's Envoy, over SDS on <folder>/<node>.sock (root only), the SVID of every local identity and the trust bundle for the encrypted tunnel, rotated in place. Needs an --auth-provider. Off without it.",
  },
  {
    flag: "envoy-access-log",
    key: "envoyAccessLog",
    env: "STRAIT_ENVOY_ACCESS_LOG",
    type: "string",
    description:
      "The node's Envoy's JSON access log of L7 policy requests (the controller's --l7-access-log), followed for `strait observe`.",
    ...both("/run/strait/envoy-access.log"),
  },
  {
    flag: "desired-state",
    key: "desiredState",
    env: "STRAIT_DESIRED_STATE",
    type: "string",
    description:
      "JSON or YAML file of desired state (endpoints, policies, ipcache, meshServices, encrypt), watched, for an agent running without a controller. Without it and --xds-address, the state comes from PUT /api/v1/desired-state.",
  },
  {
    flag: "api-token-file",
    key: "apiTokenFile",
    env: "STRAIT_AGENT_API_TOKEN_FILE",
    type: "string",
    description:
      "File holding a bearer token that writes over the TCP API must carry (Authorization: Bearer TOKEN). Without it (and without --api-client-ca) the TCP API is read-only; the unix socket (mode 0600) always takes writes.",
  },
  {
    flag: "api-tls-cert",
    key: "apiTlsCert",
    env: "STRAIT_AGENT_API_TLS_CERT",
    type: "string",
    description:
      "Certificate (PEM, leaf first) the TCP API serves TLS with; with --api-tls-key and --api-client-ca. Plain HTTP without.",
  },
  {
    flag: "api-tls-key",
    key: "apiTlsKey",
    env: "STRAIT_AGENT_API_TLS_KEY",
    type: "string",
    description: "Private key (PEM) of --api-tls-cert.",
  },
  {
    flag: "api-client-ca",
    key: "apiClientCa",
    env: "STRAIT_AGENT_API_CLIENT_CA",
    type: "string",
    description:
      "CA bundle (PEM): a write over the TCP API needs a client certificate chaining to it (or the --api-token-file token); reads need no certificate.",
  },
  ...AUTH_SETTINGS,
] as const satisfies readonly SettingSpec[];
