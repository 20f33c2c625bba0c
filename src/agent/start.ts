/**
 * Composition of the agent process (`strait agent`): datapath, agent core,
 * desired-state source, flow reader, API servers. Used by the CLI and by
 * tests. Stopping leaves the datapath in place: programs stay attached and
 * maps pinned, so enforcement and connections survive an agent restart.
 */
import { chmodSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { hostname } from "node:os";
import { dirname } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { type AgentAuth, startAgentAuth } from "../auth/agent-auth.ts";
import { type Settings, stringSetting } from "../controller/config.ts";
import { listenOpsServer } from "../controller/ops-server.ts";
import { decodeFlowEvent, FLOW_EVENT } from "../datapath/codecs/flow-event.ts";
import { offsetOf } from "../datapath/codecs/layout.ts";
import { Datapath } from "../datapath/datapath.ts";
import { addon } from "../datapath/native.ts";
import { DIR, EVENT } from "../datapath/reasons.ts";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { accessLogFlow, LineFollower } from "./access-log.ts";
import { Agent } from "./agent.ts";
import { type ApiTls, type ApiWrites, createAgentApi } from "./api.ts";
import type { DesiredStateSource } from "./desired-state.ts";
import { EnvoySecretServer, envoySdsDir } from "./envoy-sds.ts";
import { FileDesiredStateSource } from "./file-source.ts";
import { FlowBuffer, toFlow } from "./flows.ts";
import { createAgentMetrics } from "./metrics.ts";
import { type AgentXdsCertificates, startAgentXdsCertificates } from "./xds-builtin-tls.ts";
import { XdsDesiredStateSource } from "./xds-source.ts";

export interface RunningAgent {
  readonly agent: Agent;
  readonly httpAddress: string;
  readonly socketPath: string;
  stop(): Promise<void>;
}

const EVENT_POLL_MS = 20;
/** Where a ring-buffer record says its event type: only auth-required ones are decoded here. */
const EVENT_TYPE_AT = offsetOf(FLOW_EVENT, "type");
const ACCESS_LOG_POLL_MS = 100;

/** The TCP API's writers: holders of the token in the file, else no one. */
function readPem(file: string, flag: string): string {
  try {
    return readFileSync(file, "utf8");
  } catch (cause) {
    throw new StraitError(ERROR_CODES.CONFIG, `cannot read ${flag} ${file}`, { cause });
  }
}

/** TLS of the TCP API: all three of --api-tls-cert, --api-tls-key and --api-client-ca, or none. */
function tcpTls(
  cert: string | undefined,
  key: string | undefined,
  ca: string | undefined,
): ApiTls | undefined {
  if (cert === undefined && key === undefined && ca === undefined) return undefined;
  if (cert === undefined || key === undefined || ca === undefined)
    throw new StraitError(
      ERROR_CODES.CONFIG,
      "--api-tls-cert, --api-tls-key and --api-client-ca go together: give all three or none",
    );
  return {
    cert: readPem(cert, "--api-tls-cert"),
    key: readPem(key, "--api-tls-key"),
    clientCa: readPem(ca, "--api-client-ca"),
  };
}

function tcpWritesOf(tokenFile: string | undefined, tls: ApiTls | undefined): ApiWrites {
  const token = tokenFile === undefined ? undefined : readToken(tokenFile);
  if (tls !== undefined)
    return token === undefined ? { kind: "client-cert" } : { kind: "client-cert", token };
  return token === undefined ? { kind: "read-only" } : { kind: "token", token };
}

function readToken(tokenFile: string): string {
  let token: string;
  try {
    token = readFileSync(tokenFile, "utf8").trim();
  } catch (cause) {
    throw new StraitError(ERROR_CODES.CONFIG, `cannot read --api-token-file ${tokenFile}`, { cause });
  }
  if (token.length < 16)
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--api-token-file ${tokenFile}: the token must be at least 16 characters`,
    );
  return token;
}

async function listenSocket(app: FastifyInstance, path: string): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  rmSync(path, { force: true }); // a socket left by a killed agent
  try {
    await app.listen({ path });
  } catch (cause) {
    throw new StraitError(ERROR_CODES.NETWORK, `cannot listen on unix socket ${path}`, { cause });
  }
  chmodSync(path, 0o600);
}

function readTlsFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new StraitError(ERROR_CODES.CONFIG, `${flag}: cannot read ${path}`, { cause });
  }
}

function xdsSource(
  settings: Settings,
  address: string,
  logger: Logger,
  onAuthSettings: (settings: { readonly trustDomain?: string }) => void,
  certificates: AgentXdsCertificates | undefined,
): XdsDesiredStateSource {
  if (certificates !== undefined) {
    return new XdsDesiredStateSource({
      address,
      node: stringSetting(settings, "nodeName") ?? hostname(),
      logger,
      onAuthSettings,
      tls: () => certificates.tls(),
    });
  }
  const files = [
    stringSetting(settings, "xdsTlsCert"),
    stringSetting(settings, "xdsTlsKey"),
    stringSetting(settings, "xdsCa"),
  ];
  const given = files.filter((f) => f !== undefined && f !== "").length;
  if (given > 0 && given < 3) {
    throw new StraitError(ERROR_CODES.CONFIG, "--xds-tls-cert, --xds-tls-key and --xds-ca go together");
  }
  const [cert, key, ca] = files as [string, string, string];
  return new XdsDesiredStateSource({
    address,
    node: stringSetting(settings, "nodeName") ?? hostname(),
    logger,
    onAuthSettings,
    ...(given === 3
      ? {
          tls: {
            cert: readTlsFile(cert, "--xds-tls-cert"),
            key: readTlsFile(key, "--xds-tls-key"),
            ca: readTlsFile(ca, "--xds-ca"),
          },
        }
      : {}),
  });
}

export async function startAgent(settings: Settings, logger: Logger): Promise<RunningAgent> {
  // The API's files are read first: a missing certificate or token fails the start before anything is set up.
  const tls = tcpTls(
    stringSetting(settings, "apiTlsCert"),
    stringSetting(settings, "apiTlsKey"),
    stringSetting(settings, "apiClientCa"),
  );
  const tcpWrites = tcpWritesOf(stringSetting(settings, "apiTokenFile"), tls);
  const sdsDir = envoySdsDir(settings);
  const pinRoot = stringSetting(settings, "bpfRoot") ?? "/sys/fs/bpf/strait";
  const datapath = Datapath.open({ pinRoot });
  logger.info({ pinRoot }, "datapath loaded (pinned maps reused when present)");
  const metrics = createAgentMetrics(datapath);
  const stateDir = stringSetting(settings, "stateDir");
  // Mutual auth (src/auth): undefined with --auth-provider none, and then auth-required flows stay blocked.
  const auth: AgentAuth | undefined = await startAgentAuth(settings, {
    datapath,
    logger,
    registry: metrics.registry,
  });
  // The node Envoy's tunnel SVIDs (--auth-encryption envoy), from the same provider, over SDS.
  const envoySds =
    sdsDir === undefined || auth === undefined
      ? undefined
      : new EnvoySecretServer({
          provider: auth.provider,
          dir: sdsDir,
          node: stringSetting(settings, "nodeName") ?? hostname(),
          logger,
        });
  await envoySds?.start();
  const agent = new Agent({
    datapath,
    logger: logger.child({ component: "agent" }),
    ...(stateDir === undefined ? {} : { stateDir }),
    events: {
      onRejected: (origin) => metrics.rejected.inc({ origin }),
      onMapFull: (e) => metrics.mapFull.inc({ map: e.map }),
      onApplied: (state) => {
        auth?.setDesired(state);
        envoySds?.setIdentities(new Set(state.endpoints.map((e) => e.identity)));
      },
    },
  });

  let ready: string | undefined = "waiting for the first desired state";
  // The state a previous agent enforced: reconcile to it first (a no-op when nothing changed), so a
  // restart never passes through an empty state.
  const persisted = agent.loadPersistedState();
  if (persisted !== undefined) {
    const r = await agent.applyDesired(persisted, "state-dir");
    if (r.ok) ready = undefined;
  }

  const sources: DesiredStateSource[] = [];
  const file = stringSetting(settings, "desiredState");
  if (file !== undefined) sources.push(new FileDesiredStateSource(file));
  const xdsAddress = stringSetting(settings, "xdsAddress");
  // The built-in CA's xDS certificates (the agent's and its Envoy's); issuing goes on in the background.
  let xdsCertificates: AgentXdsCertificates | undefined;
  try {
    xdsCertificates = startAgentXdsCertificates(settings, logger);
  } catch (error) {
    await envoySds?.stop();
    await auth?.stop();
    throw error;
  }
  if (xdsAddress !== undefined) {
    sources.push(xdsSource(settings, xdsAddress, logger, (s) => auth?.checkSettings(s), xdsCertificates));
  }
  for (const source of sources) {
    await source.start(
      async (state, origin) => {
        const r = await agent.applyDesired(state, origin);
        if (!r.ok) return { ok: false, errors: r.error };
        ready = undefined;
        return { ok: true };
      },
      (errors, origin) => agent.reject(errors, origin),
    );
  }

  const bootToWall = (ns: bigint) => {
    const ageMs = Number(addon().bootTimeNs() - ns) / 1e6;
    return new Date(Date.now() - ageMs);
  };
  const flows = new FlowBuffer((record) => {
    const ev = decodeFlowEvent(record);
    return ev === undefined ? undefined : toFlow(ev, bootToWall, (ip) => agent.podOf(ip));
  });
  const poll = setInterval(() => {
    const records = datapath.readEventRecords();
    for (const r of records) {
      flows.push(r);
      if (auth === undefined || r[EVENT_TYPE_AT] !== EVENT.AUTH_REQUIRED) continue;
      const ev = decodeFlowEvent(r);
      if (ev === undefined) continue;
      const egress = ev.direction === DIR.EGRESS;
      auth.authRequired({
        localIdentity: egress ? ev.sourceIdentity : ev.destinationIdentity,
        remoteIdentity: egress ? ev.destinationIdentity : ev.sourceIdentity,
        remoteNode: ev.remoteNode,
        authType: ev.authType,
      });
    }
    if (records.length > 0) metrics.flowEvents.inc(records.length);
  }, EVENT_POLL_MS);
  // The node's Envoy's L7 verdicts, beside the datapath's flows.
  const accessLog = new LineFollower(
    stringSetting(settings, "envoyAccessLog") ?? "/run/strait/envoy-access.log",
  );
  const resolvePeer = (ip: string) => {
    const pod = agent.podOf(ip);
    return { identity: agent.identityOf(ip), ...(pod === undefined ? {} : { pod }) };
  };
  const accessPoll = setInterval(() => {
    for (const line of accessLog.poll()) {
      const flow = accessLogFlow(line, resolvePeer);
      if (flow !== undefined) flows.pushFlow(flow);
    }
  }, ACCESS_LOG_POLL_MS);

  const deps = {
    agent,
    flows,
    metrics,
    logger,
    ...(auth === undefined ? {} : { auth }),
    ...(envoySds === undefined ? {} : { envoySds }),
    notReadyReason: () => ready,
  };
  const socketPath = stringSetting(settings, "apiSocket") ?? "/run/strait/agent.sock";
  const tcp = createAgentApi(deps, tcpWrites, tls);
  const unix = createAgentApi(deps, { kind: "open" }); // mode 0600: root only
  // PUT /desired-state through the API makes the agent ready too.
  for (const app of [tcp, unix]) {
    app.addHook("onResponse", async (request, reply) => {
      if (request.method === "PUT" && request.url === "/api/v1/desired-state" && reply.statusCode === 200) {
        ready = undefined;
      }
    });
  }
  const ops = await listenOpsServer(tcp, stringSetting(settings, "httpAddress") ?? "127.0.0.1:9091");
  await listenSocket(unix, socketPath);
  logger.info({ address: ops.address, socket: socketPath }, "agent API listening");

  return {
    agent,
    httpAddress: ops.address,
    socketPath,
    async stop() {
      clearInterval(poll);
      await envoySds?.stop();
      await auth?.stop();
      xdsCertificates?.stop();
      clearInterval(accessPoll);
      for (const s of sources) await s.stop();
      await unix.close();
      await ops.close();
      datapath.close();
    },
  };
}
