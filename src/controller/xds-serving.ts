/**
 * The xDS part of the controller process: the snapshot cache fed by every
 * pipeline pass, the ADS server, its metrics, and `/api/v1/xds/clients` on
 * the ops server (what `strait proxy-status` reads).
 *
 * Transport security, the rule: with --xds-tls-cert, --xds-tls-key and
 * --xds-client-ca (all three), TLS where every client must present a
 * certificate from that CA. Without them, plaintext only on a loopback
 * address (the standalone default, 127.0.0.1:18000) or when --xds-plaintext
 * says so; so the in-cluster default, 0.0.0.0:18000, refuses to start
 * without TLS files or an explicit --xds-plaintext. --xds-tls-builtin-ca
 * takes the place of the three files: the built-in CA makes the server's
 * certificate and is the client CA (xds-builtin-tls.ts).
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { Gauge, type Registry } from "prom-client";
import { ERROR_CODES, messageOf, StraitError } from "../errors.ts";
import type { GatewayModel } from "../model/gateway.ts";
import type { ResourceView } from "../resources/view.ts";
import { type InvalidResource, SnapshotCache } from "../xds/cache/index.ts";
import { UNKNOWN_NODE } from "../xds/cache/node.ts";
import { TYPE_URLS } from "../xds/proto/index.ts";
import {
  createXdsMetrics,
  DEFAULT_LIMITS,
  type XdsLimits,
  XdsServer,
  type XdsServerOptions,
  type XdsTls,
  type XdsTlsSource,
} from "../xds/server/index.ts";
import type { ProxylessRouteNote } from "../xds/translate/proxyless-routes.ts";
import { booleanSetting, listSetting, type Settings, stringSetting } from "./config.ts";
import { DataPlaneRejections } from "./data-plane-rejections.ts";
import { parseHostPort } from "./ops-server.ts";
import { forEveryNode, type PipelineOutput, sharedResources } from "./pipeline.ts";
import type { PipelineReconciler } from "./pipeline-reconciler.ts";
import { proxylessResolver } from "./proxyless-resolver.ts";
import type { ReadinessCheck } from "./readiness.ts";
import { durationOf } from "./settings-check.ts";

export interface XdsServingOptions {
  /** From `xdsListenConfig(settings)`. */
  readonly config: XdsListenConfig;
  readonly logger: Logger;
  readonly registry: Registry;
  readonly store: ResourceView;
  readonly pipeline: PipelineReconciler;
  readonly app: FastifyInstance;
  /** Envoy's NACKs changed what the data plane refuses: reconcile so statuses show it. */
  readonly onRejectionsChanged?: () => void;
  /**
   * The snapshot cache to publish to; a new one when omitted. A seam for tests
   * only: encoding failures cannot be produced from input any more (translation
   * checks every part), so a test injects one at the cache boundary.
   */
  readonly cache?: SnapshotCache;
  /** TLS material that is renewed (the built-in CA's), in place of `config.tls`. */
  readonly tlsSource?: XdsTlsSource;
  /** Whether a client's certificate may speak for the node it announces (the built-in CA's rule). */
  readonly authorizeNode?: XdsServerOptions["authorizeNode"];
}

export interface XdsServing {
  /** Bound `host:port`. */
  readonly address: string;
  readonly cache: SnapshotCache;
  readonly server: XdsServer;
  /**
   * The readiness checks of xDS serving (see readiness.ts):
   * - `xds-snapshot` fails until a first snapshot is published (before it, clients are not answered);
   * - `xds-current` fails while the last pass could not be published at all (clients are served the
   *   snapshot before it); clears with the next publish;
   * - `xds-withheld-resources`, informational: resources that failed strict encoding (a translator
   *   bug), each served at its previous version or left out when new;
   * - `proxyless-targets`, informational: subscribed proxyless names that do not resolve.
   */
  readonly readinessChecks: readonly ReadinessCheck[];
  stop(): Promise<void>;
}

export interface XdsListenConfig {
  readonly host: string;
  readonly port: number;
  /** TLS from files (--xds-tls-*). */
  readonly tls: XdsTls | undefined;
  /** TLS from the built-in CA (--xds-tls-builtin-ca): the names its server certificate carries. */
  readonly builtinCa: { readonly serverNames: readonly string[]; readonly certTtlMs: number } | undefined;
  readonly limits: XdsLimits;
}

function isLoopback(host: string): boolean {
  if (host === "localhost" || host === "::1") return true;
  return isIP(host) === 4 && host.startsWith("127.");
}

function positiveInteger(settings: Settings, key: string, flag: string): number {
  const raw = stringSetting(settings, key) ?? "";
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1) {
    throw new StraitError(ERROR_CODES.CONFIG, `${flag} must be a positive integer, got "${raw}"`);
  }
  return n;
}

function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new StraitError(ERROR_CODES.CONFIG, `${flag}: cannot read ${path}`, { cause });
  }
}

/** The xDS listening address, TLS material and limits from the settings, with the rule above. */
export function xdsListenConfig(settings: Settings): XdsListenConfig {
  const address = stringSetting(settings, "xdsAddress") ?? "127.0.0.1:18000";
  const { host, port } = parseHostPort(address, "--xds-address");
  const files = {
    cert: stringSetting(settings, "xdsTlsCert"),
    key: stringSetting(settings, "xdsTlsKey"),
    clientCa: stringSetting(settings, "xdsClientCa"),
  };
  const given = Object.values(files).filter((f) => f !== undefined && f !== "").length;
  const plaintext = booleanSetting(settings, "xdsPlaintext");
  if (given > 0 && given < 3) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      "--xds-tls-cert, --xds-tls-key and --xds-client-ca go together: give all three for TLS, or none",
    );
  }
  if (given === 3 && plaintext) {
    throw new StraitError(ERROR_CODES.CONFIG, "--xds-plaintext contradicts the --xds-tls-* files given");
  }
  const builtin = booleanSetting(settings, "xdsTlsBuiltinCa");
  if (builtin) {
    if (given > 0)
      throw new StraitError(
        ERROR_CODES.CONFIG,
        "--xds-tls-builtin-ca contradicts the --xds-tls-* files given: pick one source of xDS certificates",
      );
    if (plaintext)
      throw new StraitError(ERROR_CODES.CONFIG, "--xds-plaintext contradicts --xds-tls-builtin-ca");
    if (stringSetting(settings, "builtinCaDir") === undefined)
      throw new StraitError(
        ERROR_CODES.CONFIG,
        "--xds-tls-builtin-ca needs the built-in CA: give --builtin-ca-dir",
      );
  }
  if (given === 0 && !builtin && !plaintext && !isLoopback(host)) {
    throw new StraitError(
      ERROR_CODES.CONFIG,
      `xDS on ${address} would be plaintext: give --xds-tls-cert, --xds-tls-key and --xds-client-ca, or --xds-tls-builtin-ca, or --xds-plaintext to serve it without TLS`,
    );
  }
  const serverNames = listSetting(settings, "xdsServerNames");
  for (const name of serverNames) {
    if (isIP(name) === 0 && !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/i.test(name))
      throw new StraitError(
        ERROR_CODES.CONFIG,
        `--xds-server-names: "${name}" is neither a DNS name nor an IP address`,
      );
  }
  const tls =
    given === 3
      ? {
          cert: readPem(files.cert as string, "--xds-tls-cert"),
          key: readPem(files.key as string, "--xds-tls-key"),
          clientCa: readPem(files.clientCa as string, "--xds-client-ca"),
        }
      : undefined;
  return {
    host,
    port,
    tls,
    builtinCa: builtin
      ? {
          serverNames: serverNames.length > 0 ? serverNames : ["localhost", "127.0.0.1"],
          certTtlMs: durationOf(settings, "xdsCertTtl"),
        }
      : undefined,
    limits: {
      maxStreams: positiveInteger(settings, "xdsMaxStreams", "--xds-max-streams"),
      maxMessageBytes: positiveInteger(settings, "xdsMaxMessageBytes", "--xds-max-message-bytes"),
      maxSubscriptionsPerStream: positiveInteger(settings, "xdsMaxSubscriptions", "--xds-max-subscriptions"),
      writeTimeoutMs: durationOf(settings, "xdsWriteTimeout"),
      maxBytesInFlight: DEFAULT_LIMITS.maxBytesInFlight,
    },
  };
}

export async function startXdsServing(options: XdsServingOptions): Promise<XdsServing> {
  const { config } = options;
  const logger = options.logger.child({ component: "xds" });
  const metrics = createXdsMetrics(options.registry);
  // Proxyless targets take their Service port's mesh routes from the last model published.
  let latestModel: GatewayModel | undefined;
  /** By client namespace and target name, what of its mesh routes gRPC does not get; rebuilt on every publish. */
  const routeNotes = new Map<string, readonly ProxylessRouteNote[]>();
  const logged = new Map<string, string>();
  const onNotes = (name: string, scope: string, notes: readonly ProxylessRouteNote[]) => {
    const key = `${scope}\n${name}`;
    if (notes.length === 0) {
      routeNotes.delete(key);
      logged.delete(key);
      return;
    }
    routeNotes.set(key, notes);
    // Resolved again on every change: logged when what is left out changes, not each time.
    const signature = JSON.stringify(notes);
    if (logged.get(key) === signature) return;
    logged.set(key, signature);
    logger.warn(
      { target: name, ...(scope === "" ? {} : { clientNamespace: scope }), notes },
      "proxyless gRPC target: mesh route features gRPC does not do are left out, or their routes refused (calls fail UNAVAILABLE)",
    );
  };
  const cache =
    options.cache ??
    new SnapshotCache({
      resolver: proxylessResolver(options.store, { model: () => latestModel, onNotes }),
      onDemandTypes: [TYPE_URLS.listener],
      onInvalid: (layer, invalid) => {
        metrics.invalidResources.inc({ layer }, invalid.length);
        for (const bad of invalid) {
          logger.error(
            { layer, typeUrl: bad.typeUrl, name: bad.name, error: bad.error },
            "resource failed strict encoding (a translator bug); it keeps its previous version, the rest is served",
          );
        }
      },
    });
  // Resources withheld by layer ("gateway", "node/NAME"): reported, never failing readiness.
  const withheld = new Map<string, { count: number; reason: string }>();
  let publishFailure: string | undefined;
  const record = (layer: string, invalid: readonly InvalidResource[]) => {
    if (invalid.length === 0) withheld.delete(layer);
    else
      withheld.set(layer, {
        count: invalid.length,
        reason: `${layer} layer: ${invalid.length} resource(s) failed encoding, each served at its previous version or left out when new (${invalid
          .slice(0, 3)
          .map((bad) => `${bad.typeUrl.split(".").at(-1)} ${bad.name}: ${bad.error}`)
          .join("; ")}${invalid.length > 3 ? "; …" : ""})`,
      });
  };
  new Gauge({
    name: "strait_xds_withheld_resources",
    help: "Resources the xDS cache withholds now because they fail strict encoding (a translator bug), by layer; each is served at its previous version or left out when new.",
    labelNames: ["layer"] as const,
    registers: [options.registry],
    collect() {
      this.reset();
      this.set({ layer: "gateway" }, 0);
      for (const [layer, w] of withheld) this.set({ layer }, w.count);
    },
  });
  new Gauge({
    name: "strait_xds_proxyless_unresolved",
    help: "Names proxyless gRPC clients subscribe to that resolve to nothing (no such Service or port) or fail, now.",
    registers: [options.registry],
    collect() {
      this.set(cache.onDemandProblems().length);
    },
  });
  new Gauge({
    name: "strait_xds_proxyless_route_notes",
    help: "Mesh routes of the Service ports proxyless gRPC clients subscribe to that gRPC gets without some features (left-out), not at all because they never match a gRPC call (skipped), or refused (their calls fail UNAVAILABLE), by kind.",
    labelNames: ["kind"] as const,
    registers: [options.registry],
    collect() {
      this.reset();
      const counts = { "left-out": 0, skipped: 0, refused: 0 };
      for (const notes of routeNotes.values()) for (const n of notes) counts[n.kind]++;
      for (const [kind, count] of Object.entries(counts)) this.set({ kind }, count);
    },
  });
  // Each node's own layer (its agent's policy, its Envoy's L7 listeners), keyed as nodes announce
  // themselves (`strait.dev/node` metadata); nodes that left lose theirs.
  const rejections = new DataPlaneRejections(() => {
    options.pipeline.setRejections(rejections.list());
    options.onRejectionsChanged?.();
  });
  let nodeKeys = new Set<string>();
  const publish = (output: PipelineOutput) => {
    try {
      rejections.prune(output.resources);
      const next = new Set<string>();
      for (const [node, resources] of output.nodeResources) {
        const key = `node/${node}`;
        next.add(key);
        record(key, cache.setNodeResources(key, resources).invalid);
      }
      for (const key of nodeKeys) {
        if (next.has(key)) continue;
        cache.setNodeResources(key, undefined);
        withheld.delete(key);
      }
      nodeKeys = next;
      latestModel = output.model;
      // Every subscribed target resolves again in publish: the notes of those gone go with it.
      routeNotes.clear();
      const published = cache.publish(sharedResources(output), forEveryNode(output));
      // Targets nobody subscribes to any more are forgotten (logged again if they come back).
      for (const key of logged.keys()) if (!routeNotes.has(key)) logged.delete(key);
      record("gateway", published.invalid);
      rejections.setWithheld(published.invalid);
      publishFailure = undefined;
      logger.debug({ version: published.version, nodes: next.size }, "xDS snapshot published");
    } catch (error) {
      // A bug below this point must not take the statuses and the other consumers down with it:
      // the clients keep the previous snapshot, and /readyz says why until one is published.
      publishFailure = `xDS snapshot not published: ${messageOf(error)}`;
      logger.error(
        { err: messageOf(error) },
        "xDS snapshot not published (a bug); clients keep the previous one",
      );
    }
  };
  options.pipeline.onOutput((output) => publish(output));
  // A pass that ran before this consumer was registered is not lost.
  const latest = options.pipeline.latest;
  if (latest !== undefined) publish(latest);
  const tls = options.tlsSource ?? config.tls;
  const server = new XdsServer({
    cache,
    logger,
    metrics,
    limits: config.limits,
    ...(tls === undefined ? {} : { tls }),
    ...(options.authorizeNode === undefined ? {} : { authorizeNode: options.authorizeNode }),
    onAnswer: (answer) => rejections.answer(answer),
    onStreamClosed: (stream, node) => rejections.streamClosed(stream, node),
  });
  options.app.get("/api/v1/xds/rejections", async () => ({ rejections: rejections.list() }));
  options.app.get("/api/v1/xds/clients", async () => ({ clients: server.clients() }));
  // What strait serves one node (a connected client's node id): `strait proxy-config` sets it beside Envoy's own dump.
  options.app.get("/api/v1/xds/config", async (request, reply) => {
    const id = (request.query as { node?: string }).node ?? "";
    const node = server.nodeOf(id) ?? { ...UNKNOWN_NODE, id };
    const snapshot = cache.snapshotFor(node);
    if (snapshot === undefined) return reply.code(503).send({ error: "no configuration published yet" });
    return {
      node: id,
      connected: server.nodeOf(id) !== undefined,
      version: snapshot.version,
      resources: snapshot.wildcardResources(),
    };
  });
  const bound = await server.listen(config.host, config.port);
  const address = `${config.host.includes(":") ? `[${config.host}]` : config.host}:${bound.port}`;
  logger.info(
    {
      address,
      tls: tls === undefined ? false : options.tlsSource !== undefined ? "builtin-ca" : "files",
      clientCertificates: tls !== undefined,
    },
    "xDS server listening",
  );
  return {
    address,
    cache,
    server,
    readinessChecks: [
      {
        name: "xds-snapshot",
        check: () => (cache.ready ? undefined : (publishFailure ?? "no xDS snapshot published yet")),
      },
      { name: "xds-current", check: () => publishFailure },
      {
        name: "xds-withheld-resources",
        informational: true,
        check: () =>
          withheld.size === 0 ? undefined : [...withheld.values()].map((w) => w.reason).join("; "),
      },
      {
        name: "proxyless-targets",
        informational: true,
        check: () => {
          const problems = cache.onDemandProblems();
          if (problems.length === 0) return undefined;
          return `${problems.length} subscribed name(s) do not resolve (${problems
            .slice(0, 5)
            .map((p) => `${p.name}${p.scope === undefined ? "" : ` (clients of ${p.scope})`}: ${p.reason}`)
            .join("; ")}${problems.length > 5 ? "; …" : ""})`;
        },
      },
    ],
    stop: () => server.close(),
  };
}
