/**
 * Running one hostile case next to the baseline, the way `strait status` and
 * `strait translate` do (their own command code, in-process), and reducing
 * the result to what belongs to the baseline: its listeners, its virtual
 * hosts, its clusters and endpoints, its objects' statuses, its nodes'
 * policy. A case did no collateral damage when that projection equals the
 * baseline's own.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOSTILE_NAMESPACE, type ManifestCase, writeManifestCase } from "../../scripts/hostile-corpus.ts";
import type { CommandIO } from "../../src/cli/command.ts";
import { statusCommand } from "../../src/cli/commands/status.ts";
import { translateCommand } from "../../src/cli/commands/translate.ts";
import { runPipeline } from "../../src/controller/pipeline.ts";
import { loadManifests } from "../../src/sources/manifests.ts";
import { ResourceStore } from "../../src/sources/store.ts";

export const BASELINE_NAMESPACES = new Set(["infra", "shop", "team-b"]);
export const ADDRESS_POOL = ["127.0.1.0/24"];

type Json = Record<string, unknown>;

export interface Projection {
  readonly listeners: unknown;
  readonly virtualHosts: unknown;
  readonly clusters: unknown;
  readonly endpoints: unknown;
  readonly statuses: unknown;
  readonly policy: unknown;
}

export interface CaseRun {
  readonly projection: Projection;
  readonly statusExit: number;
  readonly translateExit: number;
  readonly stderr: string;
  /** Statuses of hostile objects (the hostile namespace and cluster-scoped objects it added). */
  readonly hostileStatuses: readonly Json[];
  readonly ms: number;
}

/** Conditions and timestamps that depend on the clock or on how many routes attached are left out. */
function stable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stable);
  if (value === null || typeof value !== "object") return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    if (k === "lastTransitionTime" || k === "attachedRoutes") continue;
    out[k] = stable(v);
  }
  return out;
}

async function runCommand(
  command: typeof statusCommand,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io: CommandIO = {
    stdout: (t) => {
      stdout += t;
    },
    stderr: (t) => {
      stderr += t;
    },
    env: {},
  };
  const code = await command.run(args, io);
  return { code, stdout, stderr };
}

/** The baseline's own part of a run, by the names the baseline-only run produced. */
export interface BaselineNames {
  readonly listeners: ReadonlySet<string>;
  readonly virtualHosts: ReadonlySet<string>;
  readonly clusters: ReadonlySet<string>;
}

function project(
  translated: Json,
  statuses: Json[],
  policy: unknown,
  names: BaselineNames | undefined,
): { projection: Projection; names: BaselineNames } {
  const list = (key: string) => (translated[key] ?? []) as Json[];
  const listeners = list("listeners").filter((l) => names?.listeners.has(String(l.name)) ?? true);
  const virtualHosts = list("routes")
    .flatMap((rc) => ((rc.virtual_hosts ?? []) as Json[]).map((vh): Json => ({ rc: rc.name, ...vh })))
    .filter((vh) => names?.virtualHosts.has(String(vh.name)) ?? !String(vh.name).includes("hostile"));
  const clusters = list("clusters").filter((c) => names?.clusters.has(String(c.name)) ?? true);
  const endpoints = list("endpoints").filter((c) => names?.clusters.has(String(c.cluster_name)) ?? true);
  const own = statuses.filter(
    (s) => BASELINE_NAMESPACES.has(String(s.namespace)) || (s.namespace === undefined && s.name === "strait"),
  );
  return {
    projection: {
      listeners,
      virtualHosts,
      clusters,
      endpoints,
      statuses: stable(own),
      policy,
    },
    names: names ?? {
      listeners: new Set(listeners.map((l) => String(l.name))),
      virtualHosts: new Set(virtualHosts.map((v) => String(v.name))),
      clusters: new Set(clusters.map((c) => String(c.name))),
    },
  };
}

/**
 * The nodes' policy (endpoints, policies, L7 rules, ipcache, identities) as
 * the agents would get it. The hostile cases add no pods, so none of it may
 * change.
 */
function policyOf(dir: string): unknown {
  const store = new ResourceStore();
  for (const loaded of loadManifests([dir]).objects) store.upsert(loaded.kind, loaded.object);
  const out = runPipeline(store, { now: new Date(0), addressPool: ADDRESS_POOL });
  return stable(out.policy.nodes);
}

/** Runs `status` and `translate` (and the policy stage) over a folder. */
export async function runFolder(
  dir: string,
  names?: BaselineNames,
): Promise<CaseRun & { names: BaselineNames }> {
  const started = performance.now();
  const status = await runCommand(statusCommand, ["-f", dir, "-o", "json"]);
  const translate = await runCommand(translateCommand, ["-f", dir, "-o", "json"]);
  const statuses = JSON.parse(status.stdout) as Json[];
  const { projection, names: own } = project(
    JSON.parse(translate.stdout) as Json,
    statuses,
    policyOf(dir),
    names,
  );
  return {
    projection,
    names: own,
    statusExit: status.code,
    translateExit: translate.code,
    stderr: status.stderr + translate.stderr,
    hostileStatuses: statuses.filter((s) => String(s.namespace ?? "").startsWith(HOSTILE_NAMESPACE)),
    ms: performance.now() - started,
  };
}

/** Runs one case in a fresh folder (removed afterwards). */
export async function runCase(c: ManifestCase, names: BaselineNames): Promise<CaseRun> {
  const dir = mkdtempSync(join(tmpdir(), "strait-hostile-"));
  try {
    writeManifestCase(dir, c);
    return await runFolder(dir, names);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether any condition in a status says False (a refusal with a reason). */
export function hasFalseCondition(status: unknown): boolean {
  if (Array.isArray(status)) return status.some(hasFalseCondition);
  if (status === null || typeof status !== "object") return false;
  const o = status as Json;
  if (typeof o.type === "string" && o.status === "False" && typeof o.reason === "string") return true;
  return Object.values(o).some(hasFalseCondition);
}
