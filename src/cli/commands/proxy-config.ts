/**
 * `strait proxy-config`: an Envoy's running configuration, as Envoy itself
 * reports it (admin `/config_dump?include_eds`), side by side with what
 * strait serves that Envoy's node (the controller's `/api/v1/xds/config`),
 * like `istioctl proxy-config`. For each resource: strait's version, Envoy's,
 * and whether Envoy runs exactly what strait sent.
 */
import { envoyAdmin } from "../../envoy/admin.ts";
import { ERROR_CODES, StraitError } from "../../errors.ts";
import { encodeResource, TYPE_URLS } from "../../xds/proto/index.ts";
import { type Command, EXIT, parseFlags, UsageError } from "../command.ts";
import { render } from "../render.ts";

const DEFAULT_ADDRESS = "127.0.0.1:9090";

const KINDS = {
  listeners: TYPE_URLS.listener,
  routes: TYPE_URLS.routeConfiguration,
  clusters: TYPE_URLS.cluster,
  endpoints: TYPE_URLS.clusterLoadAssignment,
  secrets: TYPE_URLS.secret,
} as const;

type Kind = keyof typeof KINDS;

/**
 * SYNCED: Envoy runs what strait sent; DIFFERS: Envoy runs another version;
 * REJECTED: Envoy refused strait's (its error is shown); WARMING: Envoy has it
 * but does not use it yet; MISSING: strait serves it, Envoy does not have it;
 * EXTRA: Envoy still has a resource strait no longer serves.
 */
export type ResourceState = "SYNCED" | "DIFFERS" | "REJECTED" | "WARMING" | "MISSING" | "EXTRA";

export interface EnvoyResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly version?: string;
  readonly resource?: unknown;
  readonly state: "active" | "warming" | "rejected";
  readonly error?: string;
}

export interface SideBySide {
  readonly kind: Kind;
  readonly name: string;
  readonly state: ResourceState;
  readonly straitVersion?: string;
  readonly envoyVersion?: string;
  readonly error?: string;
  readonly strait?: unknown;
  readonly envoy?: unknown;
}

interface ServedResource {
  readonly typeUrl: string;
  readonly name: string;
  readonly version: string;
  readonly resource: unknown;
}

type Json = Record<string, unknown>;

function withoutType(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  const { "@type": _type, ...rest } = value as Json;
  return rest;
}

/** Every dynamic resource in an Envoy config dump, by type. Static ones (the xDS cluster) are not strait's. */
export function envoyResources(dump: { readonly configs: readonly Json[] }): EnvoyResource[] {
  const out: EnvoyResource[] = [];
  const add = (
    typeUrl: string,
    name: unknown,
    r: Json | undefined,
    state: EnvoyResource["state"],
    error?: string,
  ) => {
    if (typeof name !== "string") return;
    out.push({
      typeUrl,
      name,
      state,
      ...(typeof r?.version_info === "string" ? { version: r.version_info } : {}),
      ...(error === undefined ? {} : { error }),
    });
  };
  const push = (typeUrl: string, entry: Json | undefined, field: string, state: EnvoyResource["state"]) => {
    if (entry === undefined) return;
    const resource = withoutType(entry[field]) as Json | undefined;
    const name = resource?.name ?? resource?.cluster_name;
    if (typeof name !== "string") return;
    out.push({
      typeUrl,
      name,
      state,
      resource,
      ...(typeof entry.version_info === "string" ? { version: entry.version_info } : {}),
    });
  };
  for (const config of dump.configs) {
    const type = String(config["@type"] ?? "")
      .split(".")
      .pop();
    const list = (field: string) => (Array.isArray(config[field]) ? (config[field] as Json[]) : []);
    if (type === "ListenersConfigDump") {
      for (const l of list("dynamic_listeners")) {
        push(TYPE_URLS.listener, l.active_state as Json | undefined, "listener", "active");
        push(TYPE_URLS.listener, l.warming_state as Json | undefined, "listener", "warming");
        const failed = l.error_state as Json | undefined;
        if (failed !== undefined && l.active_state === undefined && l.warming_state === undefined)
          add(TYPE_URLS.listener, l.name, failed, "rejected", String(failed.details ?? ""));
      }
    } else if (type === "ClustersConfigDump") {
      for (const c of list("dynamic_active_clusters")) push(TYPE_URLS.cluster, c, "cluster", "active");
      for (const c of list("dynamic_warming_clusters")) push(TYPE_URLS.cluster, c, "cluster", "warming");
    } else if (type === "RoutesConfigDump") {
      for (const r of list("dynamic_route_configs"))
        push(TYPE_URLS.routeConfiguration, r, "route_config", "active");
    } else if (type === "EndpointsConfigDump") {
      for (const e of list("dynamic_endpoint_configs"))
        push(TYPE_URLS.clusterLoadAssignment, e, "endpoint_config", "active");
    } else if (type === "SecretsConfigDump") {
      for (const s of list("dynamic_active_secrets")) {
        // Secrets are dumped without their keys, so only their versions can be compared.
        out.push({
          typeUrl: TYPE_URLS.secret,
          name: String(s.name ?? ""),
          state: "active",
          ...(typeof s.version_info === "string" ? { version: s.version_info } : {}),
        });
      }
      for (const s of list("dynamic_warming_secrets"))
        out.push({ typeUrl: TYPE_URLS.secret, name: String(s.name ?? ""), state: "warming" });
    }
  }
  return out;
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array | undefined): boolean | undefined {
  if (a === undefined || b === undefined) return undefined;
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * Defaults Envoy fills into the endpoints it dumps (the EDS dump is of its
 * own copy, not of what it received): an empty health-check config, weight 1
 * per endpoint, overprovisioning factor 140.
 */
const EDS_DEFAULTS: Readonly<Record<string, unknown>> = {
  health_check_config: {},
  load_balancing_weight: 1,
  policy: { overprovisioning_factor: 140 },
};

function isEqualJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** `sent` appears in `dumped` field by field; fields only `dumped` has must hold Envoy's defaults. */
function withEnvoyDefaults(sent: unknown, dumped: unknown): boolean {
  if (Array.isArray(sent) || Array.isArray(dumped)) {
    if (!Array.isArray(sent) || !Array.isArray(dumped) || sent.length !== dumped.length) return false;
    return sent.every((x, i) => withEnvoyDefaults(x, dumped[i]));
  }
  if (sent === null || dumped === null || typeof sent !== "object" || typeof dumped !== "object")
    return isEqualJson(sent, dumped);
  const a = sent as Json;
  const b = dumped as Json;
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (key in a) {
      if (!(key in b) || !withEnvoyDefaults(a[key], b[key])) return false;
    } else if (!(key in EDS_DEFAULTS) || !isEqualJson(b[key], EDS_DEFAULTS[key])) return false;
  }
  return true;
}

/** Whether Envoy runs what strait sent: the same protobuf once both are encoded, else the same version. */
function compare(served: ServedResource, envoy: EnvoyResource): boolean {
  if (served.typeUrl === TYPE_URLS.clusterLoadAssignment && envoy.resource !== undefined)
    return withEnvoyDefaults(served.resource, envoy.resource);
  if (envoy.resource !== undefined) {
    const same = sameBytes(
      encodeResource(served.typeUrl, served.resource).bytes,
      encodeResource(served.typeUrl, envoy.resource).bytes,
    );
    if (same !== undefined) return same;
  }
  return envoy.version === served.version;
}

export function sideBySide(
  served: readonly ServedResource[],
  envoy: readonly EnvoyResource[],
  kinds: readonly Kind[],
): SideBySide[] {
  const rows: SideBySide[] = [];
  for (const kind of kinds) {
    const typeUrl = KINDS[kind];
    const mine = new Map(served.filter((r) => r.typeUrl === typeUrl).map((r) => [r.name, r]));
    const theirs = new Map<string, EnvoyResource[]>();
    for (const r of envoy.filter((e) => e.typeUrl === typeUrl))
      theirs.set(r.name, [...(theirs.get(r.name) ?? []), r]);
    const names = [...new Set([...mine.keys(), ...theirs.keys()])].sort();
    for (const name of names) {
      const s = mine.get(name);
      const e = theirs.get(name) ?? [];
      const active = e.find((r) => r.state === "active");
      const warming = e.find((r) => r.state === "warming");
      const rejected = e.find((r) => r.state === "rejected");
      const shown = active ?? warming ?? rejected;
      const state: ResourceState =
        s === undefined
          ? "EXTRA"
          : active !== undefined && compare(s, active)
            ? "SYNCED"
            : warming !== undefined && compare(s, warming)
              ? "WARMING"
              : rejected !== undefined
                ? "REJECTED"
                : active !== undefined
                  ? "DIFFERS"
                  : "MISSING";
      rows.push({
        kind,
        name,
        state,
        ...(s === undefined ? {} : { straitVersion: s.version, strait: s.resource }),
        ...(shown?.version === undefined ? {} : { envoyVersion: shown.version }),
        ...(shown?.resource === undefined ? {} : { envoy: shown.resource }),
        ...(rejected?.error === undefined ? {} : { error: rejected.error }),
      });
    }
  }
  return rows;
}

export function renderTable(rows: readonly SideBySide[]): string {
  if (rows.length === 0) return "No resources.\n";
  const table = [
    ["TYPE", "NAME", "STRAIT", "ENVOY", "STATE"],
    ...rows.map((r) => [r.kind, r.name, r.straitVersion ?? "-", r.envoyVersion ?? "-", r.state]),
  ];
  const widths = table[0]?.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length))) ?? [];
  const lines = table.map((row) =>
    row
      .map((cell, i) => cell.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd(),
  );
  const errors = rows.filter((r) => r.error !== undefined).map((r) => `  ${r.kind} ${r.name}: ${r.error}`);
  return `${lines.join("\n")}\n${errors.length === 0 ? "" : `\nEnvoy's errors:\n${errors.join("\n")}\n`}`;
}

async function getJson(url: string, what: string): Promise<Json> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`HTTP ${response.status} ${await response.text()}`);
    return (await response.json()) as Json;
  } catch (cause) {
    throw new StraitError(ERROR_CODES.NETWORK, `cannot read ${url} (${what})`, { cause });
  }
}

export const proxyConfigCommand: Command = {
  name: "proxy-config",
  summary: "Show an Envoy's configuration as Envoy reports it, beside what strait sent it",
  help: `Usage: strait proxy-config [all|listeners|routes|clusters|endpoints|secrets] [flags]

Reads an Envoy's running configuration from its admin interface
(/config_dump?include_eds) and what the controller serves that Envoy's node,
and sets them side by side, per resource:

  SYNCED    Envoy runs exactly what strait sent (same protobuf, or for
            secrets, whose keys Envoy does not dump, the same version)
  DIFFERS   Envoy runs another version (an update is on its way, or was NACKed)
  REJECTED  Envoy refused strait's resource; its error is printed below
  WARMING   Envoy has it but waits for its dependencies before using it
  MISSING   strait serves it and Envoy does not have it
  EXTRA     Envoy still has a resource strait no longer serves

      --address HOST:PORT  the controller's operations server (default ${DEFAULT_ADDRESS}, or STRAIT_HTTP_ADDRESS)
      --admin HOST:PORT    the Envoy's admin interface (default: the controller's managed Envoy)
      --node ID            the Envoy's node id (default: what its admin interface reports)
  -o, --output FORMAT      table (default), json or yaml (with both resources in full)

Exit code 0 on success, 1 when the controller or Envoy cannot be reached, 2 on usage errors.`,
  async run(args, io) {
    const { values, positionals } = parseFlags(
      args,
      {
        address: { type: "string" },
        admin: { type: "string" },
        node: { type: "string" },
        output: { type: "string", short: "o" },
      },
      true,
    );
    const format = values.output ?? "table";
    if (format !== "table" && format !== "json" && format !== "yaml")
      throw new UsageError(`-o must be table, json or yaml, not "${format}"`);
    if (positionals.length > 1) throw new UsageError("give at most one resource type");
    const what = positionals[0] ?? "all";
    const kinds: Kind[] =
      what === "all"
        ? (Object.keys(KINDS) as Kind[])
        : what in KINDS
          ? [what as Kind]
          : (() => {
              throw new UsageError(`unknown resource type "${what}" (all, ${Object.keys(KINDS).join(", ")})`);
            })();
    const address = values.address ?? io.env.STRAIT_HTTP_ADDRESS ?? DEFAULT_ADDRESS;
    const base = `http://${address.startsWith("0.0.0.0:") ? `127.0.0.1:${address.slice(8)}` : address}`;
    let adminAddress = values.admin;
    if (adminAddress === undefined) {
      const info = await getJson(`${base}/api/v1/envoy`, "is strait run listening there?");
      if (info.managed !== true || typeof info.adminAddress !== "string")
        throw new StraitError(
          ERROR_CODES.CONFIG,
          "the controller runs no managed Envoy: give --admin HOST:PORT of an Envoy",
        );
      adminAddress = info.adminAddress;
    }
    const admin = envoyAdmin(adminAddress);
    const nodeId = values.node ?? String(((await admin.serverInfo()).node as Json | undefined)?.id ?? "");
    const served = await getJson(
      `${base}/api/v1/xds/config?node=${encodeURIComponent(nodeId)}`,
      "what strait serves",
    );
    const rows = sideBySide(
      (served.resources ?? []) as ServedResource[],
      envoyResources(await admin.configDump()),
      kinds,
    );
    if (format === "table") {
      io.stdout(`Envoy ${adminAddress}, node ${nodeId === "" ? "(no id)" : nodeId}\n\n${renderTable(rows)}`);
    } else {
      io.stdout(render({ admin: adminAddress, node: nodeId, resources: rows }, format));
    }
    return EXIT.OK;
  },
};
