/**
 * The agent's normal DesiredStateSource: the controller's ADS server, over
 * the incremental (delta) protocol, with strait's resource types
 * (src/xds/proto/strait/v1/agent.proto). The agent announces its node
 * (`strait.dev/node` metadata) and subscribes to all of that node's
 * resources of each type.
 *
 * - Nothing is applied before every type has answered once: a restarting
 *   agent keeps enforcing what it enforced until it has the whole new state.
 * - Every later response is applied at once (the server sends identities and
 *   prefixes before the policies that name them, and removals last). A
 *   response that cannot be applied (a resource failing validation, a state
 *   that would not fit a BPF map) is NACKed with the reason; the agent keeps
 *   the last state it applied, and the server sends that type again only when
 *   it changes.
 * - When the stream ends the agent reconnects with back-off, announcing the
 *   versions it holds (`initial_resource_versions`), so the server sends only
 *   what changed; enforcement never stops in between.
 */
import type { PeerCertificate } from "node:tls";
import { type ChannelCredentials, Client, type ClientDuplexStream, credentials } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { messageOf } from "../errors.ts";
import {
  decodeResource,
  findType,
  messageFromJson,
  STRAIT_TYPE_URLS,
  validateResource,
} from "../xds/proto/index.ts";
import { agentStateFrom } from "../xds/translate/agent-resources.ts";
import type { DesiredState, DesiredStateSink, DesiredStateSource, RejectSink } from "./desired-state.ts";
import { validateDesiredState } from "./validate.ts";

const METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";
export const AGENT_TYPES: readonly string[] = [
  STRAIT_TYPE_URLS.identity,
  STRAIT_TYPE_URLS.identityHosts,
  STRAIT_TYPE_URLS.authSettings,
  STRAIT_TYPE_URLS.endpointPolicy,
  STRAIT_TYPE_URLS.meshService,
  STRAIT_TYPE_URLS.encryptPolicy,
];
const INVALID_ARGUMENT = 3;
const RESOURCE_EXHAUSTED = 8;

type Json = Readonly<Record<string, unknown>>;

function type(name: string) {
  const t = findType(name);
  if (t === undefined) throw new Error(`the protos lack ${name}`);
  return t;
}

interface Held {
  readonly version: string;
  readonly json: Json;
}

export interface XdsSourceOptions {
  /** `host:port` of the controller's xDS server. */
  readonly address: string;
  /** The Kubernetes node this agent runs on. */
  readonly node: string;
  readonly logger: Logger;
  /**
   * TLS with a client certificate (PEM contents); plaintext without. A
   * function is asked at each connection (a certificate that is renewed);
   * while it has none, the source waits and retries. `checkServer` replaces
   * the host name check (the built-in CA's server is known by its SPIFFE ID).
   */
  readonly tls?: XdsClientTls | (() => XdsClientTls | undefined);
  readonly retryMs?: { readonly initial: number; readonly max: number };
  /** The controller's AuthSettings, after each applied state (the agent checks them against its own). */
  readonly onAuthSettings?: (settings: { readonly trustDomain?: string }) => void;
}

export interface XdsClientTls {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly checkServer?: (cert: PeerCertificate) => Error | undefined;
}

interface DeltaResponse {
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly {
    name: string;
    version: string;
    resource?: { type_url: string; value: Uint8Array };
  }[];
  readonly removed: readonly string[];
}

export class XdsDesiredStateSource implements DesiredStateSource {
  readonly name: string;
  readonly #options: XdsSourceOptions;
  readonly #logger: Logger;
  readonly #held = new Map<string, Map<string, Held>>();
  readonly #answered = new Set<string>();
  #synced = false;
  #client: Client | undefined;
  #call: ClientDuplexStream<Buffer, Buffer> | undefined;
  #stopped = false;
  #timer: NodeJS.Timeout | undefined;
  #delayMs: number;
  #chain: Promise<unknown> = Promise.resolve();
  #accept: DesiredStateSink | undefined;
  #authSettings: { readonly trustDomain?: string } = {};
  #reject: RejectSink | undefined;
  /** The number of responses applied, ACKed and NACKed (tests and status). */
  readonly counts = { applied: 0, acked: 0, nacked: 0, connects: 0 };

  constructor(options: XdsSourceOptions) {
    this.#options = options;
    this.#logger = options.logger.child({ component: "xds-source" });
    this.name = `xds:${options.address}`;
    this.#delayMs = options.retryMs?.initial ?? 500;
  }

  async start(accept: DesiredStateSink, reject: RejectSink): Promise<void> {
    this.#accept = accept;
    this.#reject = reject;
    this.#connect();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#call?.cancel();
    this.#client?.close();
    await this.#chain.catch(() => undefined);
  }

  /** The credentials of a new connection; undefined while a TLS certificate is awaited. */
  #credentials(): ChannelCredentials | undefined {
    const given = this.#options.tls;
    if (given === undefined) return credentials.createInsecure();
    const tls = typeof given === "function" ? given() : given;
    if (tls === undefined) return undefined;
    const check = tls.checkServer;
    return credentials.createSsl(
      tls.ca,
      tls.key,
      tls.cert,
      check === undefined ? {} : { checkServerIdentity: (_host, cert) => check(cert) },
    );
  }

  #send(request: Json): void {
    const t = type("envoy.service.discovery.v3.DeltaDiscoveryRequest");
    const { message, issues } = messageFromJson(t, request);
    if (message === undefined) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join("; "));
    this.#call?.write(Buffer.from(t.encode(message).finish()));
  }

  #connect(): void {
    if (this.#stopped) return;
    const channelCredentials = this.#credentials();
    if (channelCredentials === undefined) {
      this.#logger.info(
        { address: this.#options.address, retryMs: this.#delayMs },
        "no xDS client certificate yet; waiting for it",
      );
      this.#timer = setTimeout(() => this.#connect(), this.#delayMs);
      this.#delayMs = Math.min(this.#delayMs * 2, this.#options.retryMs?.max ?? 10_000);
      return;
    }
    this.counts.connects++;
    this.#client = new Client(this.#options.address, channelCredentials);
    const call = this.#client.makeBidiStreamRequest(
      METHOD,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    this.#call = call;
    let ended = false;
    const end = (why: string) => {
      if (ended) return;
      ended = true;
      if (this.#call === call) this.#call = undefined;
      this.#client?.close();
      if (this.#stopped) return;
      this.#logger.warn(
        { address: this.#options.address, reason: why, retryMs: this.#delayMs },
        "xDS stream ended; enforcement goes on, reconnecting",
      );
      this.#timer = setTimeout(() => this.#connect(), this.#delayMs);
      this.#delayMs = Math.min(this.#delayMs * 2, this.#options.retryMs?.max ?? 10_000);
    };
    call.on("status", (s: { code: number; details: string }) => end(`${s.code} ${s.details}`));
    call.on("error", (e: Error) => end(e.message));
    call.on("data", (bytes: Buffer) => {
      this.#delayMs = this.#options.retryMs?.initial ?? 500;
      const response = this.#decode(bytes);
      this.#chain = this.#chain
        .then(() => this.#handle(response))
        .catch((error: unknown) => {
          this.#logger.error({ err: error }, "xDS response handling failed");
        });
    });
    AGENT_TYPES.forEach((typeUrl, i) => {
      const versions = Object.fromEntries(
        [...(this.#held.get(typeUrl) ?? new Map<string, Held>())].map(([n, h]) => [n, h.version]),
      );
      this.#send({
        type_url: typeUrl,
        ...(i === 0
          ? {
              node: {
                id: `strait-agent/${this.#options.node}`,
                cluster: "strait-agent",
                metadata: { "strait.dev/node": this.#options.node },
                user_agent_name: "strait-agent",
              },
            }
          : {}),
        initial_resource_versions: versions,
      });
    });
    this.#logger.info({ address: this.#options.address, node: this.#options.node }, "xDS stream opened");
  }

  #decode(bytes: Buffer): DeltaResponse {
    const t = type("envoy.service.discovery.v3.DeltaDiscoveryResponse");
    const m = t.toObject(t.decode(bytes)) as {
      type_url?: string;
      nonce?: string;
      resources?: { name: string; version: string; resource?: { type_url: string; value: Uint8Array } }[];
      removed_resources?: string[];
    };
    return {
      typeUrl: m.type_url ?? "",
      nonce: m.nonce ?? "",
      resources: m.resources ?? [],
      removed: m.removed_resources ?? [],
    };
  }

  #nack(r: DeltaResponse, code: number, message: string): void {
    this.counts.nacked++;
    this.#logger.warn(
      { type: r.typeUrl, nonce: r.nonce, error: message },
      "xDS response rejected (NACK); the previous state stays",
    );
    this.#send({ type_url: r.typeUrl, response_nonce: r.nonce, error_detail: { code, message } });
  }

  #ack(r: DeltaResponse): void {
    this.counts.acked++;
    this.#send({ type_url: r.typeUrl, response_nonce: r.nonce });
  }

  async #handle(r: DeltaResponse): Promise<void> {
    if (!AGENT_TYPES.includes(r.typeUrl)) {
      this.#nack(r, INVALID_ARGUMENT, `the agent does not take ${r.typeUrl}`);
      return;
    }
    // The candidate content of this type: what is held, with this response's changes.
    const candidate = new Map(this.#held.get(r.typeUrl) ?? []);
    const problems: string[] = [];
    for (const res of r.resources) {
      if (res.resource === undefined || res.resource.type_url !== r.typeUrl) {
        problems.push(`${res.name}: not a ${r.typeUrl}`);
        continue;
      }
      try {
        const json = decodeResource(r.typeUrl, res.resource.value) as Json;
        const issues = validateResource(r.typeUrl, json);
        if (issues.length > 0)
          problems.push(`${res.name}: ${issues.map((i) => `${i.path}: ${i.message}`).join("; ")}`);
        else candidate.set(res.name, { version: res.version, json });
      } catch (error) {
        problems.push(`${res.name}: ${messageOf(error)}`);
      }
    }
    for (const name of r.removed) candidate.delete(name);
    if (problems.length > 0) {
      this.#reject?.(
        problems.map((message) => ({ field: r.typeUrl, message })),
        this.name,
      );
      this.#nack(r, INVALID_ARGUMENT, problems.join("; "));
      return;
    }
    this.#answered.add(r.typeUrl);
    if (!this.#synced && !AGENT_TYPES.every((t) => this.#answered.has(t))) {
      // Not every type has answered yet: hold it, apply nothing (a partial state would drop endpoints).
      this.#held.set(r.typeUrl, candidate);
      this.#ack(r);
      return;
    }
    const state = this.#state(r.typeUrl, candidate);
    if (!state.ok) {
      this.#reject?.(state.errors, this.name);
      this.#nack(r, INVALID_ARGUMENT, state.errors.map((e) => `${e.field}: ${e.message}`).join("; "));
      return;
    }
    const outcome = await (this.#accept?.(state.value, this.name) ?? Promise.resolve({ ok: true as const }));
    if (!outcome.ok) {
      const full = outcome.errors.some(
        (e) => typeof e === "object" && e !== null && (e as { kind?: string }).kind === "full",
      );
      const text = outcome.errors
        .map((e) =>
          typeof e === "object" && e !== null && "message" in e
            ? String((e as { message: unknown }).message)
            : String(e),
        )
        .join("; ");
      this.#nack(r, full ? RESOURCE_EXHAUSTED : INVALID_ARGUMENT, text);
      return;
    }
    this.#held.set(r.typeUrl, candidate);
    this.#synced = true;
    this.counts.applied++;
    this.#ack(r);
    this.#options.onAuthSettings?.(this.#authSettings);
  }

  #state(
    typeUrl: string,
    candidate: ReadonlyMap<string, Held>,
  ): { ok: true; value: DesiredState } | { ok: false; errors: { field: string; message: string }[] } {
    const resources = new Map<string, ReadonlyMap<string, Json>>();
    for (const t of AGENT_TYPES) {
      const held = t === typeUrl ? candidate : (this.#held.get(t) ?? new Map<string, Held>());
      resources.set(t, new Map([...held].map(([n, h]) => [n, h.json])));
    }
    const s = agentStateFrom(resources);
    this.#authSettings = s.trustDomain === undefined ? {} : { trustDomain: s.trustDomain };
    const parsed = validateDesiredState({
      endpoints: s.endpoints,
      policies: s.policies,
      ipcache: s.ipcache,
      meshServices: s.meshServices,
      encrypt: s.encrypt,
    });
    return parsed.ok ? { ok: true, value: parsed.value } : { ok: false, errors: parsed.error };
  }
}
