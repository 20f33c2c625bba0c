/**
 * The controller's side of mutual auth, driven by the policy stage's
 * security identities:
 *
 * - the built-in CA's SVID issuer (`--builtin-ca-dir`): every replica serves
 *   it from the same root (a mounted Secret; generated on first start when
 *   the folder is empty, which suits one replica or standalone mode), and a
 *   node's agent gets an SVID only for an identity that has an endpoint on
 *   that node in the last pass (Cilium's per-node restriction: a compromised
 *   node cannot obtain the identities of pods it does not run);
 * - the SPIRE entry sync (`--spire-server-socket`): the leader keeps one
 *   registration entry per workload identity with endpoints, through the
 *   server's Entry API; after a failure it retries with a back-off, and a new
 *   leader syncs at once.
 */
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import { parse } from "yaml";
import { CertificateAuthority } from "../auth/builtin-ca/authority.ts";
import { type RunningIssuer, startIssuerServer } from "../auth/builtin-ca/issuer-server.ts";
import type { TrustDomain } from "../auth/spiffe-id.ts";
import { SpireEntrySync } from "../auth/spire/entry-sync.ts";
import { ERROR_CODES, messageOf, StraitError } from "../errors.ts";
import { FIRST_WORKLOAD_IDENTITY } from "../model/endpoint-policy.ts";
import { LOCAL_IDENTITY_FLAG } from "../policy/index.ts";
import { Backoff } from "../sources/kubernetes/backoff.ts";
import { controllerTrustDomain, listSetting, type Settings, stringSetting } from "./config.ts";
import { parseHostPort } from "./ops-server.ts";
import type { PipelineOutput } from "./pipeline.ts";
import type { PipelineReconciler } from "./pipeline-reconciler.ts";
import { durationOf } from "./settings-check.ts";

export interface AuthServingInput {
  readonly settings: Settings;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly pipeline: PipelineReconciler;
  /** Whether this replica writes to the cluster (always true in standalone mode). */
  readonly isLeader: () => boolean;
  /** Registers a listener for leadership changes. */
  readonly onLeadership?: (listener: (leading: boolean) => void) => void;
}

export interface AuthServing {
  /** URL of the SVID issuer, when the built-in CA runs. */
  readonly issuerUrl: string | undefined;
  /** The built-in CA, when it runs (it also makes the xDS server's certificate). */
  readonly ca: CertificateAuthority | undefined;
  stop(): Promise<void>;
}

/** `node: token` (YAML map) → token → node. */
function readNodeTokens(file: string): Map<string, string> {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, "utf8"));
  } catch (cause) {
    throw new StraitError(ERROR_CODES.CONFIG, `--builtin-ca-node-tokens: cannot read ${file}`, { cause });
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--builtin-ca-node-tokens: ${file} must map node names to tokens`,
    );
  }
  const tokens = new Map<string, string>();
  for (const [node, token] of Object.entries(doc)) {
    if (typeof token !== "string" || token.length < 16) {
      throw new StraitError(
        ERROR_CODES.CONFIG,
        `--builtin-ca-node-tokens: the token of node "${node}" must be a string of at least 16 characters`,
      );
    }
    if (tokens.has(token)) {
      throw new StraitError(ERROR_CODES.CONFIG, `--builtin-ca-node-tokens: two nodes share a token`);
    }
    tokens.set(token, node);
  }
  return tokens;
}

/** `node|identity` for every endpoint of the pass: what each node may get SVIDs for. */
function endpointPairs(output: PipelineOutput): Set<string> {
  const pairs = new Set<string>();
  for (const e of output.policy.endpoints) if (e.node !== undefined) pairs.add(`${e.node}|${e.identity}`);
  return pairs;
}

/** The workload identities that have endpoints: the ones SPIRE needs entries for. */
function workloadIdentities(output: PipelineOutput): Set<number> {
  const ids = new Set<number>();
  for (const e of output.policy.endpoints) {
    if (e.identity >= FIRST_WORKLOAD_IDENTITY && e.identity < LOCAL_IDENTITY_FLAG) ids.add(e.identity);
  }
  return ids;
}

function sameSet(a: ReadonlySet<number>, b: ReadonlySet<number> | undefined): boolean {
  return b !== undefined && a.size === b.size && [...a].every((x) => b.has(x));
}

async function startIssuer(input: AuthServingInput, trustDomain: TrustDomain, dir: string) {
  const { settings, logger, registry, pipeline } = input;
  const tokensFile = stringSetting(settings, "builtinCaNodeTokens");
  if (tokensFile === undefined) {
    throw new StraitError(ERROR_CODES.CONFIG, "--builtin-ca-dir needs --builtin-ca-node-tokens");
  }
  const nodeTokens = readNodeTokens(tokensFile);
  const ttlMs = durationOf(settings, "svidTtl");
  const ca = await CertificateAuthority.loadOrCreate(trustDomain, dir, new Date());
  // A pass may have run before this started: begin from it.
  const latest = pipeline.latest;
  let allowed = latest === undefined ? new Set<string>() : endpointPairs(latest);
  pipeline.onOutput((output) => {
    allowed = endpointPairs(output);
  });
  const issued = new Counter({
    name: "strait_builtin_ca_svids_issued_total",
    help: "X.509-SVIDs the built-in CA issued to agents.",
    registers: [registry],
  });
  const refused = new Counter({
    name: "strait_builtin_ca_svids_refused_total",
    help: "SVID requests the built-in CA refused because the node has no endpoint of the identity.",
    registers: [registry],
  });
  const xdsIssued = new Counter({
    name: "strait_builtin_ca_xds_certificates_issued_total",
    help: "xDS client certificates the built-in CA issued to agents, for themselves and their node's Envoy.",
    labelNames: ["role"] as const,
    registers: [registry],
  });
  const listen = parseHostPort(
    stringSetting(settings, "builtinCaAddress") ?? "127.0.0.1:18001",
    "--builtin-ca-address",
  );
  let issuer: RunningIssuer;
  try {
    issuer = await startIssuerServer(
      {
        ca,
        nodeTokens,
        svidTtlMs: ttlMs,
        mayIssue: (node, identity) => {
          const ok = allowed.has(`${node}|${identity}`);
          if (!ok) refused.inc();
          return ok;
        },
        onIssued: (node, identity) => {
          issued.inc();
          logger.debug({ node, identity }, "SVID issued");
        },
        xdsCertTtlMs: durationOf(settings, "xdsCertTtl"),
        onXdsIssued: (node, role) => {
          xdsIssued.inc({ role });
          logger.debug({ node, role }, "xDS client certificate issued");
        },
      },
      listen,
    );
  } catch (cause) {
    throw new StraitError(
      ERROR_CODES.NETWORK,
      `cannot listen on ${listen.host}:${listen.port} (--builtin-ca-address)`,
      {
        cause,
      },
    );
  }
  logger.info({ url: issuer.url, nodes: nodeTokens.size, trustDomain }, "built-in CA issuing SVIDs");
  return { issuer, ca };
}

function startSpireSync(input: AuthServingInput, trustDomain: TrustDomain, socketPath: string) {
  const { settings, logger, registry, pipeline, isLeader } = input;
  const delegateSelectors = listSetting(settings, "spireDelegateSelectors").map((text) => {
    const colon = text.indexOf(":");
    if (colon <= 0 || colon === text.length - 1) {
      throw new StraitError(
        ERROR_CODES.CONFIG,
        `--spire-delegate-selector must be type:value, not "${text}"`,
      );
    }
    return { type: text.slice(0, colon), value: text.slice(colon + 1) };
  });
  const sync = new SpireEntrySync({
    socketPath,
    trustDomain,
    ...(delegateSelectors.length === 0 ? {} : { delegateSelectors }),
  });
  const backoff = new Backoff({ initialMs: 1_000, maxMs: 30_000 });
  const healthy = new Gauge({
    name: "strait_spire_entries_in_sync",
    help: "1 when the leader's last SPIRE entry sync succeeded (0 on followers and after a failure).",
    registers: [registry],
  });
  healthy.set(0);
  let wanted: Set<number> | undefined;
  let synced: Set<number> | undefined;
  let running: Promise<void> | undefined;
  let again = false;
  let retry: NodeJS.Timeout | undefined;
  let stopped = false;

  const run = (): void => {
    if (stopped || wanted === undefined || !isLeader()) return;
    if (running !== undefined) {
      again = true;
      return;
    }
    if (sameSet(wanted, synced)) return;
    const target = wanted;
    running = (async () => {
      const result = await sync.sync(target);
      if (result.ok) {
        synced = target;
        backoff.reset();
        healthy.set(1);
        const { created, updated, deleted } = result.value;
        if (created + updated + deleted > 0) {
          logger.info({ created, updated, deleted, identities: target.size }, "SPIRE entries in step");
        }
      } else {
        healthy.set(0);
        const delay = backoff.next();
        logger.warn({ err: result.error, retryInMs: delay }, "SPIRE entry sync failed; retrying");
        clearTimeout(retry);
        retry = setTimeout(run, delay);
        retry.unref();
      }
    })()
      .catch((error: unknown) =>
        logger.error({ err: messageOf(error) }, "SPIRE entry sync failed unexpectedly"),
      )
      .finally(() => {
        running = undefined;
        if (again) {
          again = false;
          run();
        }
      });
  };
  pipeline.onOutput((output) => {
    wanted = workloadIdentities(output);
    run();
  });
  const latest = pipeline.latest;
  if (latest !== undefined) {
    wanted = workloadIdentities(latest);
    queueMicrotask(run);
  }
  input.onLeadership?.((leading) => {
    synced = undefined; // another leader may have changed entries meanwhile
    if (leading) run();
    else healthy.set(0);
  });
  logger.info({ socket: socketPath, trustDomain }, "SPIRE entry sync enabled (leader only)");
  return {
    async stop() {
      stopped = true;
      clearTimeout(retry);
      await running;
      sync.close();
    },
  };
}

export async function startAuthServing(input: AuthServingInput): Promise<AuthServing> {
  const trustDomain = controllerTrustDomain(input.settings);
  const logger = input.logger.child({ component: "auth" });
  const withLogger = { ...input, logger };
  const dir = stringSetting(input.settings, "builtinCaDir");
  const socket = stringSetting(input.settings, "spireServerSocket");
  const builtin = dir === undefined ? undefined : await startIssuer(withLogger, trustDomain, dir);
  const issuer = builtin?.issuer;
  let spire: { stop(): Promise<void> } | undefined;
  try {
    spire = socket === undefined ? undefined : startSpireSync(withLogger, trustDomain, socket);
  } catch (error) {
    await issuer?.close();
    throw error;
  }
  return {
    issuerUrl: issuer?.url,
    ca: builtin?.ca,
    async stop() {
      await spire?.stop();
      await issuer?.close();
    },
  };
}
