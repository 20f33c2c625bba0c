/**
 * Mutual auth as the agent runs it, composed in one place so the agent only
 * calls this: the identity provider chosen by the settings, the handshake
 * server, the auth manager on the kernel auth map, and their metrics.
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import type { Logger } from "pino";
import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { DesiredState } from "../agent/desired-state.ts";
import type { Settings } from "../controller/config.ts";
import { stringSetting } from "../controller/config.ts";
import type { Datapath } from "../datapath/datapath.ts";
import { ERROR_CODES, StraitError } from "../errors.ts";
import { KubeClient, loadKubeConfig } from "../sources/kubernetes/kube-client.ts";
import { BuiltinCaProvider } from "./builtin-ca/provider.ts";
import { CertManagerProvider, type IssuerRef } from "./cert-manager/provider.ts";
import { pemBlocks } from "./certificate.ts";
import { authenticate } from "./handshake/client.ts";
import { HandshakeServer } from "./handshake/server.ts";
import type { IdentityProvider } from "./identity-provider.ts";
import { authDesiredOf } from "./manager/auth-desired.ts";
import type { AuthKey } from "./manager/auth-key.ts";
import { type AuthEntryStatus, AuthManager } from "./manager/auth-manager.ts";
import { DatapathAuthMap } from "./manager/datapath-auth-map.ts";
import { parseTrustDomain, type TrustDomain } from "./spiffe-id.ts";
import { SpireDelegatedProvider } from "./spire/delegated-provider.ts";

export interface AgentAuth {
  readonly provider: IdentityProvider;
  readonly address: { readonly host: string; readonly port: number };
  /** An auth-required event (local/remote already oriented by direction). */
  authRequired(ev: {
    localIdentity: number;
    remoteIdentity: number;
    remoteNode: string;
    authType: number;
  }): void;
  setDesired(state: DesiredState): void;
  /** The controller's AuthSettings (over xDS): a trust domain other than this agent's is reported. */
  checkSettings(settings: { readonly trustDomain?: string }): void;
  status(): {
    readonly provider: string;
    readonly healthy: boolean;
    /** Set while the controller's AuthSettings do not fit this agent. */
    readonly settingsMismatch?: string;
    readonly entries: readonly AuthEntryStatus[];
    readonly failures: readonly { key: AuthKey; last: { time: string; result: string; message?: string } }[];
  };
  stop(): Promise<void>;
}

function hostPort(text: string, what: string): { host: string; port: number } {
  const i = text.lastIndexOf(":");
  const port = Number(text.slice(i + 1));
  if (i < 1 || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new StraitError(ERROR_CODES.CONFIG, `${what} must be HOST:PORT, not "${text}"`);
  }
  return { host: text.slice(0, i).replace(/^\[|\]$/g, ""), port };
}

function required(settings: Settings, key: string, flag: string, by = "this auth provider"): string {
  const v = stringSetting(settings, key);
  if (v === undefined) throw new StraitError(ERROR_CODES.CONFIG, `--${flag} is required for ${by}`);
  return v;
}

/** `KIND/NAME` or `KIND.GROUP/NAME` (cert-manager's issuerRef). */
export function parseIssuerRef(text: string): IssuerRef {
  const m = /^([A-Za-z][A-Za-z0-9]*)(?:\.([a-z0-9.-]+))?\/([a-z0-9]([-a-z0-9.]*[a-z0-9])?)$/.exec(text);
  if (m === null) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `--cert-manager-issuer must be KIND/NAME or KIND.GROUP/NAME (e.g. ClusterIssuer/strait-ca), not "${text}"`,
    );
  }
  return { kind: m[1] ?? "", group: m[2] ?? "cert-manager.io", name: m[3] ?? "" };
}

function certManagerProvider(settings: Settings, trustDomain: TrustDomain, log: Logger): IdentityProvider {
  const issuerRef = parseIssuerRef(required(settings, "certManagerIssuer", "cert-manager-issuer"));
  const caFile = required(settings, "certManagerCa", "cert-manager-ca");
  let roots: Buffer[];
  try {
    roots = pemBlocks(readFileSync(caFile, "utf8"));
  } catch (cause) {
    throw new StraitError(ERROR_CODES.IO_READ, `cannot read --cert-manager-ca ${caFile}`, { cause });
  }
  if (roots.length === 0) throw new StraitError(ERROR_CODES.CONFIG, `${caFile} holds no certificate`);
  const loaded = loadKubeConfig(stringSetting(settings, "kubeconfig"));
  return new CertManagerProvider({
    trustDomain,
    client: new KubeClient(loaded.config),
    namespace: stringSetting(settings, "certManagerNamespace") ?? loaded.podNamespace ?? "strait-system",
    issuerRef,
    nodeName: stringSetting(settings, "nodeName") ?? hostname(),
    rootsDer: roots,
    logger: log,
  });
}

/**
 * Why the controller's auth settings do not fit this agent, or undefined.
 * The trust domain is fixed when the agent starts (its provider is built
 * for it), so a different one is reported, not adopted: every handshake with
 * the controller's other agents would fail.
 */
export function authSettingsMismatch(
  local: TrustDomain,
  controller: { readonly trustDomain?: string },
): string | undefined {
  if (controller.trustDomain === undefined || controller.trustDomain === local) return undefined;
  return `the controller's trust domain is "${controller.trustDomain}", this agent's --trust-domain is "${local}": handshakes with agents of the controller's trust domain will fail`;
}

/**
 * The built-in CA's issuer as the agent reaches it: --builtin-ca-url, -root
 * and -token-file, read; `by` names what needs them, for the error.
 */
export function builtinCaIssuerSettings(
  settings: Settings,
  by = "this auth provider",
): {
  readonly url: string;
  readonly nodeToken: string;
  readonly rootDer: Buffer;
} {
  const rootFile = required(settings, "builtinCaRoot", "builtin-ca-root", by);
  const url = required(settings, "builtinCaUrl", "builtin-ca-url", by);
  let root: Buffer | undefined;
  let token: string;
  try {
    root = pemBlocks(readFileSync(rootFile, "utf8"))[0];
    token = readFileSync(
      required(settings, "builtinCaTokenFile", "builtin-ca-token-file", by),
      "utf8",
    ).trim();
  } catch (cause) {
    throw new StraitError(ERROR_CODES.IO_READ, "cannot read the built-in CA's root or node token", {
      cause,
    });
  }
  if (root === undefined) throw new StraitError(ERROR_CODES.CONFIG, `${rootFile} holds no certificate`);
  return { url, nodeToken: token, rootDer: root };
}

/** --trust-domain, parsed. */
export function agentTrustDomain(settings: Settings): TrustDomain {
  const td = parseTrustDomain(stringSetting(settings, "trustDomain") ?? "strait.local");
  if (!td.ok) throw new StraitError(ERROR_CODES.CONFIG, `--trust-domain: ${td.error}`);
  return td.value;
}

function providerOf(
  settings: Settings,
  trustDomain: TrustDomain,
  logger: Logger,
): IdentityProvider | undefined {
  const kind = stringSetting(settings, "authProvider") ?? "none";
  const log = logger.child({ component: "identity-provider" });
  switch (kind) {
    case "none":
      return undefined;
    case "builtin-ca": {
      const issuer = builtinCaIssuerSettings(settings);
      return new BuiltinCaProvider({
        trustDomain,
        url: issuer.url,
        nodeToken: issuer.nodeToken,
        bootstrapRootDer: issuer.rootDer,
        logger: log,
      });
    }
    case "cert-manager":
      return certManagerProvider(settings, trustDomain, log);
    case "spire":
      return new SpireDelegatedProvider({
        trustDomain,
        socketPath: stringSetting(settings, "spireAdminSocket") ?? "/run/spire/sockets/admin.sock",
        logger: log,
      });
    default:
      throw new StraitError(
        ERROR_CODES.CONFIG,
        `--auth-provider must be none, builtin-ca, spire or cert-manager, not "${kind}"`,
      );
  }
}

export async function startAgentAuth(
  settings: Settings,
  deps: { readonly datapath: Datapath; readonly logger: Logger; readonly registry: Registry },
): Promise<AgentAuth | undefined> {
  const trustDomain = agentTrustDomain(settings);
  const logger = deps.logger.child({ component: "auth" });
  const provider = providerOf(settings, trustDomain, deps.logger);
  if (provider === undefined) return undefined;
  const listen = hostPort(stringSetting(settings, "authAddress") ?? "0.0.0.0:4250", "--auth-address");
  const peerPortText = stringSetting(settings, "authPeerPort");
  const registers = [deps.registry];

  const handshakes = new Counter({
    name: "strait_auth_handshakes_total",
    help: "Mutual-auth handshakes this agent started, by result (ok, or the failure reason).",
    labelNames: ["result"] as const,
    registers,
  });
  const duration = new Histogram({
    name: "strait_auth_handshake_seconds",
    help: "Duration of successful mutual-auth handshakes started by this agent.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
    registers,
  });
  const requiredEvents = new Counter({
    name: "strait_auth_required_events_total",
    help: "auth-required events read from the datapath (each one a dropped packet).",
    registers,
  });
  const skipped = new Counter({
    name: "strait_auth_required_skipped_total",
    help: "auth-required events that started no handshake, by reason.",
    labelNames: ["reason"] as const,
    registers,
  });
  const served = new Counter({
    name: "strait_auth_handshakes_served_total",
    help: "Handshakes other agents made with this one, by result.",
    labelNames: ["result"] as const,
    registers,
  });
  const gcd = new Counter({
    name: "strait_auth_entries_removed_total",
    help: "Auth map entries removed by the auth manager, by reason.",
    labelNames: ["reason"] as const,
    registers,
  });

  const server = new HandshakeServer({
    provider,
    onResult: (r) => served.inc({ result: r.ok ? "ok" : "refused" }),
  });
  const bound = await server.listen(listen.port, listen.host);
  await provider.start();
  const store = new DatapathAuthMap(deps.datapath.map("strait_auth"));
  const manager = new AuthManager({
    provider,
    store,
    authenticate: (req) => authenticate(provider, req),
    port: peerPortText === undefined ? bound.port : Number(peerPortText),
    localAddress: listen.host === "0.0.0.0" || listen.host === "::" ? "127.0.0.1" : listen.host,
    logger,
    events: {
      onRequired: () => requiredEvents.inc(),
      onSkipped: (reason) => skipped.inc({ reason }),
      onHandshake: (result, ms) => {
        handshakes.inc({ result });
        if (result === "ok") duration.observe(ms / 1000);
      },
      onGc: (reason) => gcd.inc({ reason }),
    },
  });
  new Gauge({
    name: "strait_auth_entries",
    help: "mtls-spiffe entries in the auth map.",
    registers,
    collect() {
      this.set(store.list().length);
    },
  });
  new Gauge({
    name: "strait_auth_provider_healthy",
    help: "1 when the identity provider's source (SPIRE agent, built-in CA issuer) answered last time.",
    registers,
    collect() {
      this.set(provider.healthy() ? 1 : 0);
    },
  });
  let mismatch: string | undefined;
  const mismatchGauge = new Gauge({
    name: "strait_auth_settings_mismatch",
    help: "1 while the controller's AuthSettings (over xDS) name another trust domain than this agent's --trust-domain.",
    registers,
  });
  mismatchGauge.set(0);
  manager.start();
  logger.info({ provider: provider.name, address: bound, trustDomain }, "mutual auth listening");

  return {
    provider,
    address: bound,
    authRequired: (ev) => manager.handleAuthRequired(ev),
    setDesired: (state) => manager.setDesired(authDesiredOf(state)),
    checkSettings: (controller) => {
      const now = authSettingsMismatch(trustDomain, controller);
      if (now !== undefined && now !== mismatch) logger.error({ reason: now }, "auth settings do not match");
      if (now === undefined && mismatch !== undefined) logger.info("auth settings match again");
      mismatch = now;
      mismatchGauge.set(now === undefined ? 0 : 1);
    },
    status: () => ({
      provider: provider.name,
      healthy: provider.healthy(),
      ...(mismatch === undefined ? {} : { settingsMismatch: mismatch }),
      entries: manager.entries(),
      failures: manager.failures(),
    }),
    async stop() {
      await manager.stop();
      await server.close();
      await provider.stop();
    },
  };
}
