/**
 * The parts of the CNI specification strait-cni needs: versions, error
 * codes, the error object, and reading the host interface and pod addresses
 * out of a previous result.
 */
export const SUPPORTED_VERSIONS = ["0.4.0", "1.0.0", "1.1.0"] as const;

/** Error codes of the CNI spec ("Error" section); 100+ are this plugin's own. */
export const CNI_ERROR = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENVIRONMENT: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_NETWORK_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  PLUGIN_NOT_AVAILABLE: 50,
  AGENT_REFUSED: 100,
} as const;

export interface CniError {
  readonly cniVersion: string;
  readonly code: number;
  readonly msg: string;
  readonly details?: string;
}

export class CniFailure extends Error {
  readonly code: number;
  readonly details: string | undefined;

  constructor(code: number, msg: string, details?: string) {
    super(msg);
    this.code = code;
    this.details = details;
  }
}

export interface NetConf {
  readonly cniVersion: string;
  readonly name: string;
  readonly type: string;
  /** The agent's unix socket (default /run/strait/agent.sock). */
  readonly agentSocket?: string;
  readonly prevResult?: unknown;
  readonly [key: string]: unknown;
}

export function parseNetConf(stdin: string): NetConf {
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdin);
  } catch (error) {
    throw new CniFailure(
      CNI_ERROR.DECODE_FAILURE,
      "failed to decode network configuration",
      (error as Error).message,
    );
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new CniFailure(CNI_ERROR.DECODE_FAILURE, "network configuration must be a JSON object");
  }
  const c = parsed as Record<string, unknown>;
  if (typeof c.cniVersion !== "string") {
    throw new CniFailure(CNI_ERROR.INVALID_NETWORK_CONFIG, "cniVersion: required string");
  }
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(c.cniVersion)) {
    throw new CniFailure(
      CNI_ERROR.INCOMPATIBLE_VERSION,
      `incompatible CNI version ${c.cniVersion}`,
      `supported: ${SUPPORTED_VERSIONS.join(", ")}`,
    );
  }
  if (typeof c.name !== "string" || typeof c.type !== "string") {
    throw new CniFailure(CNI_ERROR.INVALID_NETWORK_CONFIG, "name and type: required strings");
  }
  if (c.agentSocket !== undefined && typeof c.agentSocket !== "string") {
    throw new CniFailure(CNI_ERROR.INVALID_NETWORK_CONFIG, "agentSocket: must be a string");
  }
  return c as NetConf;
}

interface ResultInterface {
  readonly name?: unknown;
  readonly sandbox?: unknown;
}

interface ResultIp {
  readonly address?: unknown;
  readonly interface?: unknown;
}

/**
 * The host-side interface and the pod's IPv4 addresses from a previous
 * result. Host-side interfaces have no `sandbox`; the pod's veth peer is the
 * last of them (ptp lists [host veth, pod]; bridge lists [bridge, host veth, pod]).
 */
export function attachmentFromResult(
  prevResult: unknown,
  ifName: string,
): { hostInterface: string; addresses: string[] } {
  if (typeof prevResult !== "object" || prevResult === null) {
    throw new CniFailure(
      CNI_ERROR.INVALID_NETWORK_CONFIG,
      "prevResult: required (strait-cni is a chained plugin: list it after the primary plugin)",
    );
  }
  const r = prevResult as { interfaces?: unknown; ips?: unknown };
  const interfaces = (Array.isArray(r.interfaces) ? r.interfaces : []) as ResultInterface[];
  const ips = (Array.isArray(r.ips) ? r.ips : []) as ResultIp[];
  const hosts = interfaces.filter(
    (i) => typeof i.name === "string" && (i.sandbox === undefined || i.sandbox === ""),
  );
  const host = hosts.at(-1)?.name;
  if (typeof host !== "string") {
    throw new CniFailure(
      CNI_ERROR.INVALID_NETWORK_CONFIG,
      "prevResult.interfaces: no host-side interface (one without sandbox)",
    );
  }
  const podIndex = interfaces.findIndex(
    (i) => i.name === ifName && typeof i.sandbox === "string" && i.sandbox !== "",
  );
  const addresses = ips
    .filter((ip) => ip.interface === undefined || podIndex < 0 || ip.interface === podIndex)
    .map((ip) => (typeof ip.address === "string" ? ip.address.split("/")[0] : undefined))
    .filter((a): a is string => a !== undefined && /^\d+\.\d+\.\d+\.\d+$/.test(a));
  if (addresses.length === 0) {
    throw new CniFailure(CNI_ERROR.INVALID_NETWORK_CONFIG, "prevResult.ips: no IPv4 address for the pod");
  }
  return { hostInterface: host, addresses };
}

/** K8S_POD_NAMESPACE and K8S_POD_NAME from CNI_ARGS (`a=b;c=d`), as `namespace/name`. */
export function podFromCniArgs(args: string | undefined): string | undefined {
  if (args === undefined) return undefined;
  const kv = new Map(
    args
      .split(";")
      .map((p) => p.split("="))
      .filter((p): p is [string, string] => p.length === 2),
  );
  const ns = kv.get("K8S_POD_NAMESPACE");
  const name = kv.get("K8S_POD_NAME");
  return ns !== undefined && name !== undefined ? `${ns}/${name}` : undefined;
}
