/**
 * The one door to the Kubernetes API for the source, the status writer and
 * leader election. Configuration and authentication come from
 * @kubernetes/client-node's KubeConfig (kubeconfig file or in-cluster service
 * account, token refresh, client certificates); requests go through its fetch
 * transport, and watches through its Watch class. Plain requests return their
 * outcome as a value: an HTTP error or an unreachable server is an expected
 * failure of a controller, not an exception.
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { IsomorphicFetchHttpLibrary, KubeConfig, RequestContext, Watch } from "@kubernetes/client-node";
import { ERROR_CODES, messageOf, StraitError } from "../../errors.ts";

export type KubeResponse =
  | { readonly ok: true; readonly status: number; readonly body: unknown }
  | {
      readonly ok: false;
      /** HTTP status, or 0 when there was no response (network error, timeout, abort). */
      readonly status: number;
      readonly message: string;
      /** `reason` of the Status the server answered with (NotFound, Conflict, Expired, ...). */
      readonly reason?: string;
    };

export interface KubeRequestOptions {
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  readonly contentType?: string;
  readonly signal?: AbortSignal;
}

export type WatchCallback = (type: unknown, object: unknown) => void;

type Dispatcher = NonNullable<ReturnType<RequestContext["getDispatcher"]>>;

/** How long one connection pool is reused before it is rebuilt from the kubeconfig. */
const DISPATCHER_LIFETIME_MS = 10 * 60_000;

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

export interface LoadedKubeConfig {
  readonly config: KubeConfig;
  /** Where it came from, for the start-up log. */
  readonly source: string;
  /** The pod's namespace when running in a cluster. */
  readonly podNamespace?: string;
}

/**
 * `--kubeconfig FILE` if given; else the in-cluster service account when
 * running in a pod; else `~/.kube/config`. Unlike client-node's
 * loadFromDefault, never falls back to an unauthenticated localhost:8080.
 */
export function loadKubeConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): LoadedKubeConfig {
  const config = new KubeConfig();
  let source: string;
  let podNamespace: string | undefined;
  try {
    if (file !== undefined && file !== "") {
      config.loadFromFile(file);
      source = file;
    } else if (env.KUBERNETES_SERVICE_HOST !== undefined && existsSync(join(SERVICE_ACCOUNT_DIR, "token"))) {
      config.loadFromCluster();
      source = "in-cluster service account";
      const nsFile = join(SERVICE_ACCOUNT_DIR, "namespace");
      if (existsSync(nsFile)) podNamespace = readFileSync(nsFile, "utf8").trim();
    } else if (existsSync(join(homedir(), ".kube", "config"))) {
      source = join(homedir(), ".kube", "config");
      config.loadFromFile(source);
    } else {
      throw new StraitError(
        ERROR_CODES.CONFIG,
        "cluster mode needs a Kubernetes API: not running in a pod, no --kubeconfig and no ~/.kube/config (use -f DIR for standalone mode)",
      );
    }
  } catch (cause) {
    if (cause instanceof StraitError) throw cause;
    throw new StraitError(ERROR_CODES.CONFIG, `cannot load kubeconfig: ${messageOf(cause)}`, { cause });
  }
  if (config.getCurrentCluster() === null) {
    throw new StraitError(ERROR_CODES.CONFIG, `kubeconfig ${source} has no current cluster`);
  }
  return { config, source, ...(podNamespace === undefined || podNamespace === "" ? {} : { podNamespace }) };
}

export class KubeClient {
  readonly config: KubeConfig;
  readonly #http = new IsomorphicFetchHttpLibrary();
  readonly #timeoutMs: number;
  #dispatcher: Dispatcher | undefined;
  #dispatcherSince = 0;

  constructor(config: KubeConfig, options: { readonly requestTimeoutMs?: number } = {}) {
    this.config = config;
    this.#timeoutMs = options.requestTimeoutMs ?? 30_000;
  }

  get server(): string {
    return this.config.getCurrentCluster()?.server ?? "";
  }

  async request(method: string, path: string, options: KubeRequestOptions = {}): Promise<KubeResponse> {
    const url = new URL(this.server.replace(/\/$/, "") + path);
    for (const [key, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const ctx = new RequestContext(url.toString(), method as "GET");
    ctx.setHeaderParam("Accept", "application/json");
    if (options.body !== undefined) {
      ctx.setBody(JSON.stringify(options.body));
      ctx.setHeaderParam("Content-Type", options.contentType ?? "application/json");
    }
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    ctx.setSignal(options.signal === undefined ? timeout : AbortSignal.any([timeout, options.signal]));
    let status: number;
    let text: string;
    try {
      await this.config.applySecurityAuthentication(ctx);
      this.#reuseDispatcher(ctx);
      const response = await this.#http.send(ctx).toPromise();
      status = response.httpStatusCode;
      text = await response.body.text();
    } catch (error) {
      return { ok: false, status: 0, message: `${method} ${url.pathname}: ${describeTransportError(error)}` };
    }
    let body: unknown;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        if (status >= 200 && status < 300) {
          return { ok: false, status, message: `${method} ${url.pathname}: the response is not JSON` };
        }
      }
    }
    if (status >= 200 && status < 300) return { ok: true, status, body };
    const s = body as { message?: unknown; reason?: unknown } | undefined;
    return {
      ok: false,
      status,
      message: `${method} ${url.pathname}: ${status} ${typeof s?.message === "string" ? s.message : text.slice(0, 200)}`,
      ...(typeof s?.reason === "string" ? { reason: s.reason } : {}),
    };
  }

  /**
   * client-node (2.0.1) builds a new undici Agent for every request, so no
   * connection would ever be reused: a TCP and TLS handshake per status patch,
   * and sockets piling up. One Agent is kept and reused instead; it is rebuilt
   * every few minutes so that rotated client certificates (exec plugins) are
   * picked up. The old one closes once its requests are done.
   */
  #reuseDispatcher(ctx: RequestContext): void {
    const fresh = ctx.getDispatcher();
    if (fresh === undefined) return;
    const now = performance.now();
    if (this.#dispatcher === undefined || now - this.#dispatcherSince > DISPATCHER_LIFETIME_MS) {
      const old = this.#dispatcher;
      this.#dispatcher = fresh;
      this.#dispatcherSince = now;
      old?.close().catch(() => undefined);
    } else {
      fresh.close().catch(() => undefined);
    }
    ctx.setDispatcher(this.#dispatcher);
  }

  /**
   * Opens a watch (client-node's Watch: chunked JSON lines, authentication,
   * an inactivity timeout). `onDone` is called once, with an error or null when
   * the server ended the stream. Resolves with the controller that aborts it.
   */
  watch(
    path: string,
    query: Readonly<Record<string, string | number | boolean>>,
    onEvent: WatchCallback,
    onDone: (error: unknown) => void,
    inactivityTimeoutMs: number,
  ): Promise<AbortController> {
    const watch = new Watch(this.config);
    // client-node hard-codes a 30 s inactivity timeout (declared private, a plain
    // field at run time). The API server sends bookmarks about once a minute, so a
    // quiet kind would reconnect every 30 s; the caller picks a longer one.
    Reflect.set(watch, "requestTimeoutMs", inactivityTimeoutMs);
    return watch.watch(path, query, (type: unknown, object: unknown) => onEvent(type, object), onDone);
  }
}

function describeTransportError(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  if (error instanceof Error && error.name === "TimeoutError") return "request timed out";
  return cause === undefined ? messageOf(error) : `${messageOf(error)} (${messageOf(cause)})`;
}
