/**
 * A wire-level stand-in for kube-apiserver (node:http), for tests of strait's
 * Kubernetes source, status writer and leader election. It speaks the real
 * REST protocol for the kinds strait reads plus Leases:
 *
 * - `GET` lists with `limit`/`continue` chunking (pages consistent at the first
 *   page's resourceVersion) and a `metadata.resourceVersion`;
 * - `GET ?watch=true` streams chunked JSON watch events from a resourceVersion
 *   (ADDED, MODIFIED, DELETED; BOOKMARK with `allowWatchBookmarks`; ERROR with a
 *   410 Expired Status when the resourceVersion is older than the history);
 * - `GET`/`POST`/`PUT`/`DELETE` of single objects, with 409 on a stale
 *   resourceVersion (and on failed DeleteOptions preconditions);
 * - `PATCH` on the main resource: server-side apply (`application/apply-patch+yaml`,
 *   `fieldManager`, `force`; see server-side-apply.ts: 201 when it creates, 200
 *   otherwise, 409 on a field conflict) and merge patches; merge patches on the
 *   `/status` subresource; other patch types get 415;
 * - on objects written over the wire, the server's Service defaulting (cluster
 *   IP, node ports) and the validation strait's writes can meet (422 Invalid).
 *   Objects the tests write directly are stored as given.
 *
 * Tests drive it directly: create/update/delete objects, compact the history,
 * expire or drop watches, send bookmarks, make a kind unserved (its CRD not
 * installed), inject failures, and read every request it received.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { applyMergePatch, sortKeys } from "./json.ts";
import { writeKubeconfig } from "./kubeconfig.ts";
import { applyPatch, isStatus, mergePatch, prepareWrite, type WriteContext } from "./object-writes.ts";
import { type ParsedPath, parseApiPath } from "./paths.ts";
import {
  apiVersionOfResource,
  EVENT,
  findResourceByKind,
  findResourceByPath,
  isBuiltIn,
  LEASE,
  resourceKey,
  type ServedResource,
} from "./resources.ts";
import { ServiceDefaulter } from "./service-defaults.ts";
import { NOT_SERVED, type StatusBody, statusBody } from "./status.ts";
import { type ApiObject, ObjectStorage, type WriteResult } from "./storage.ts";
import { WatchStream } from "./watch-stream.ts";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  readonly contentType: string | undefined;
  readonly body: unknown;
  readonly watch: boolean;
  /** The user whose bearer token authenticated the request. */
  readonly user: string | undefined;
  status: number;
}

export interface FailureRule {
  readonly method?: string;
  /** Fails requests whose path contains this. */
  readonly path?: string;
  readonly watch?: boolean;
  readonly status: number;
  /** How many matching requests fail (default 1). */
  times?: number;
}

export interface KubeApiServerOptions {
  /** Bearer token of the default user "test" (default "test-token"). */
  readonly token?: string;
  /** Kinds the server does not serve, as if their CRDs were not installed. */
  readonly unserved?: readonly string[];
  /** Send a BOOKMARK to every watch that asked for them on this interval (default: only when told). */
  readonly bookmarkIntervalMs?: number;
  /**
   * Events expire this long after their last write, as with kube-apiserver's
   * `--event-ttl` (every create or update renews an Event's lease); checked
   * at each request, on the `now` clock. Default: Events never expire.
   */
  readonly eventTtlMs?: number;
  /** The clock of `eventTtlMs` (default `Date.now`). */
  readonly now?: () => number;
}

/** Sends a response; returns undefined so handlers can `return reply(...)`. */
type Reply = (code: number, payload: unknown) => undefined;

interface ListSnapshot {
  readonly rv: number;
  readonly items: ApiObject[];
}

export class KubeApiServer {
  readonly storage = new ObjectStorage();
  readonly requests: RecordedRequest[] = [];
  readonly #server: Server;
  /** Bearer token → user name. */
  readonly #users = new Map<string, string>();
  readonly #kubeconfigs = new Map<string, string>();
  readonly #unserved: Set<string>;
  readonly #watches = new Set<WatchStream>();
  readonly #snapshots = new Map<string, ListSnapshot>();
  readonly #failures: FailureRule[] = [];
  readonly #services = new ServiceDefaulter();
  #bookmarkTimer: NodeJS.Timeout | undefined;
  /** `namespace/name` of each Event → when it expires (only with `eventTtlMs`). */
  readonly #eventExpiry = new Map<string, number>();
  readonly #eventTtlMs: number | undefined;
  readonly #now: () => number;
  #snapshotSeq = 0;
  #connections = 0;
  #url = "";

  private constructor(options: KubeApiServerOptions) {
    this.#users.set(options.token ?? "test-token", "test");
    this.#unserved = new Set(options.unserved ?? []);
    this.#server = createServer((req, res) => {
      this.#handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) send(res, 500, statusBody(500, "InternalError", String(error)));
      });
    });
    this.#server.on("connection", () => {
      this.#connections++;
    });
    this.#eventTtlMs = options.eventTtlMs;
    this.#now = options.now ?? Date.now;
    this.storage.subscribe((event) => {
      for (const w of this.#watches) w.change(event);
      if (this.#eventTtlMs === undefined || resourceKey(event.resource) !== resourceKey(EVENT)) return;
      const key = `${event.object.metadata.namespace ?? ""}/${event.object.metadata.name}`;
      if (event.type === "DELETED") this.#eventExpiry.delete(key);
      else this.#eventExpiry.set(key, this.#now() + this.#eventTtlMs);
    });
    if (options.bookmarkIntervalMs !== undefined) {
      this.#bookmarkTimer = setInterval(() => this.sendBookmarks(), options.bookmarkIntervalMs);
    }
  }

  static async start(options: KubeApiServerOptions = {}): Promise<KubeApiServer> {
    const server = new KubeApiServer(options);
    await new Promise<void>((resolve) => server.#server.listen(0, "127.0.0.1", resolve));
    const address = server.#server.address();
    if (typeof address !== "object" || address === null) throw new Error("test API server did not bind");
    server.#url = `http://127.0.0.1:${address.port}`;
    return server;
  }

  get url(): string {
    return this.#url;
  }

  /** TCP connections accepted so far. */
  get connections(): number {
    return this.#connections;
  }

  /** A kubeconfig file for this server, as the default user "test". */
  get kubeconfig(): string {
    return this.kubeconfigFor("test");
  }

  /** A kubeconfig file with a token of its own, so tests can tell which client sent a request. */
  kubeconfigFor(user: string): string {
    let file = this.#kubeconfigs.get(user);
    if (file === undefined) {
      const token = [...this.#users].find(([, u]) => u === user)?.[0] ?? `token-${user}`;
      this.#users.set(token, user);
      file = writeKubeconfig(this.#url, token);
      this.#kubeconfigs.set(user, file);
    }
    return file;
  }

  async close(): Promise<void> {
    if (this.#bookmarkTimer !== undefined) clearInterval(this.#bookmarkTimer);
    for (const w of [...this.#watches]) w.drop();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ---- the tests' side -------------------------------------------------------------------------

  create(input: ApiObject): ApiObject {
    return unwrap(this.storage.create(this.#resourceOf(input.kind), input));
  }

  /** Replaces the object's spec (its status is kept, as a PUT to the main resource does). */
  update(input: ApiObject): ApiObject {
    const { resourceVersion: _rv, ...metadata } = input.metadata;
    return unwrap(this.storage.update(this.#resourceOf(input.kind), { ...input, metadata }));
  }

  /** Creates or updates. */
  apply(input: ApiObject): ApiObject {
    const resource = this.#resourceOf(input.kind);
    const exists = this.storage.get(resource, input.metadata.namespace, input.metadata.name) !== undefined;
    return exists ? this.update(input) : this.create(input);
  }

  delete(kind: string, namespace: string | undefined, name: string): void {
    unwrap(this.storage.delete(this.#resourceOf(kind), namespace, name));
  }

  get(kind: string, namespace: string | undefined, name: string): ApiObject | undefined {
    return this.storage.get(this.#resourceOf(kind), namespace, name);
  }

  /** Writes an object's status as another client would. */
  setStatus(kind: string, namespace: string | undefined, name: string, status: unknown): ApiObject {
    return unwrap(this.storage.updateStatus(this.#resourceOf(kind), namespace, name, status));
  }

  /** Makes a kind unserved (its CRD uninstalled) or served again. */
  setServed(kind: string, served: boolean): void {
    if (served) this.#unserved.delete(kind);
    else {
      this.#unserved.add(kind);
      for (const w of [...this.#watches]) if (w.resource.kind === kind) w.end();
    }
  }

  /** Forgets the event history: a watch from any older resourceVersion now gets 410 Expired. */
  compact(): void {
    this.storage.compact();
    for (const [id, snapshot] of this.#snapshots) {
      if (snapshot.rv < this.storage.compactedResourceVersion) this.#snapshots.delete(id);
    }
  }

  /** Compacts, then tells every open watch (of `kind`, or all) that its resourceVersion expired. */
  expireWatches(kind?: string): void {
    this.compact();
    for (const w of [...this.#watches]) {
      if (kind === undefined || w.resource.kind === kind)
        w.error(expired(this.storage.compactedResourceVersion));
    }
  }

  /** Drops open watch connections (of `kind`, or all) without a clean end. */
  dropWatches(kind?: string): void {
    for (const w of [...this.#watches]) if (kind === undefined || w.resource.kind === kind) w.drop();
  }

  /** Sends a BOOKMARK at the current resourceVersion to every watch that allows them. */
  sendBookmarks(): void {
    for (const w of this.#watches) w.bookmark(this.storage.resourceVersion);
  }

  /** Holds back events of the open watches (of `kind`, or all) until resumeWatches(). */
  pauseWatches(kind?: string): void {
    for (const w of this.#watches) if (kind === undefined || w.resource.kind === kind) w.pause();
  }

  resumeWatches(): void {
    for (const w of this.#watches) w.resume();
  }

  openWatches(kind?: string): readonly WatchStream[] {
    return [...this.#watches].filter((w) => kind === undefined || w.resource.kind === kind);
  }

  /** The next matching request(s) fail with `status`. */
  failNext(rule: FailureRule): void {
    this.#failures.push({ ...rule, times: rule.times ?? 1 });
  }

  clearFailures(): void {
    this.#failures.length = 0;
  }

  /** Writes a raw line into the open watches of a kind: malformed events, for robustness tests. */
  sendRawWatchLine(kind: string, line: string): void {
    for (const w of this.#watches) if (w.resource.kind === kind) w.raw(line);
  }

  /** Requests for one resource (by plural), optionally only lists, watches or one method. */
  requestsFor(plural: string, filter: { method?: string; watch?: boolean } = {}): RecordedRequest[] {
    return this.requests.filter(
      (r) =>
        parseApiPath(r.path)?.plural === plural &&
        (filter.method === undefined || r.method === filter.method) &&
        (filter.watch === undefined || r.watch === filter.watch),
    );
  }

  // ---- the wire side ---------------------------------------------------------------------------

  /** Deletes the Events whose TTL passed, as the API server's storage lets them lapse (each request does this first). */
  expireEvents(): void {
    const now = this.#now();
    for (const [key, expires] of [...this.#eventExpiry]) {
      if (expires > now) continue;
      const at = key.indexOf("/");
      this.storage.delete(EVENT, key.slice(0, at), key.slice(at + 1));
    }
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    this.expireEvents();
    const url = new URL(req.url ?? "/", "http://localhost");
    const query = Object.fromEntries(url.searchParams);
    const method = req.method ?? "GET";
    const watch = method === "GET" && (query.watch === "true" || query.watch === "1");
    const text = await readBody(req);
    const contentType = req.headers["content-type"];
    let body: unknown;
    if (text !== "") {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const auth = req.headers.authorization ?? "";
    const user = auth.startsWith("Bearer ") ? this.#users.get(auth.slice(7)) : undefined;
    const record: RecordedRequest = {
      method,
      path: url.pathname,
      query,
      contentType,
      body,
      watch,
      user,
      status: 0,
    };
    this.requests.push(record);
    const reply: Reply = (code, payload) => {
      record.status = code;
      send(res, code, payload);
      return undefined;
    };

    if (user === undefined) {
      return reply(401, statusBody(401, "Unauthorized", "Unauthorized"));
    }
    const failure = this.#failures.find(
      (f) =>
        (f.times ?? 0) > 0 &&
        (f.method === undefined || f.method === method) &&
        (f.path === undefined || url.pathname.includes(f.path)) &&
        (f.watch === undefined || f.watch === watch),
    );
    if (failure !== undefined) {
      failure.times = (failure.times ?? 1) - 1;
      return reply(failure.status, statusBody(failure.status, "InjectedFailure", "injected by the test"));
    }
    const parsed = parseApiPath(url.pathname);
    const resource =
      parsed === undefined ? undefined : findResourceByPath(parsed.group, parsed.version, parsed.plural);
    if (parsed === undefined || resource === undefined || this.#unserved.has(resource.kind)) {
      return reply(404, NOT_SERVED());
    }
    if (parsed.namespace !== undefined && !resource.namespaced) return reply(404, NOT_SERVED());

    if (parsed.name === undefined) {
      if (method === "GET" && watch) {
        record.status = 200;
        return this.#watch(resource, parsed, query, res, reply);
      }
      if (method === "GET") return this.#list(resource, parsed, query, reply);
      if (method === "POST") return this.#create(resource, parsed, body, reply);
      return reply(405, statusBody(405, "MethodNotAllowed", `${method} is not allowed on a collection`));
    }
    if (parsed.subresource !== undefined && parsed.subresource !== "status") return reply(404, NOT_SERVED());
    const ns = resource.namespaced ? parsed.namespace : undefined;
    if (method === "GET") {
      const obj = this.storage.get(resource, ns, parsed.name);
      return obj === undefined
        ? reply(404, statusBody(404, "NotFound", `${resource.plural} "${parsed.name}" not found`))
        : reply(200, this.#out(resource, obj));
    }
    if (method === "PUT" && parsed.subresource === undefined) {
      if (!isObject(body) || !isObject(body.metadata) || body.metadata.name !== parsed.name) {
        return reply(400, statusBody(400, "BadRequest", "the name of the object does not match the URL"));
      }
      const input = { ...(body as unknown as ApiObject) };
      input.metadata = { ...input.metadata, ...(ns === undefined ? {} : { namespace: ns }) };
      const prepared = prepareWrite(
        this.#writeContext(resource, ns, parsed.name),
        input,
        this.storage.get(resource, ns, parsed.name),
      );
      if (isStatus(prepared)) return reply(prepared.code, prepared);
      // A Lease has no status subresource: a PUT writes all of it.
      const result = this.storage.update(resource, prepared, resource === LEASE ? "replace" : "keep");
      return this.#replyWrite(resource, result, 200, reply);
    }
    if (method === "PATCH" && parsed.subresource === undefined) {
      if (query.force !== undefined && mediaType(contentType) !== "application/apply-patch+yaml") {
        return reply(
          422,
          statusBody(
            422,
            "Invalid",
            'PatchOptions.meta.k8s.io "" is invalid: force: Forbidden: may not be specified for non-apply patch',
          ),
        );
      }
      const ctx = this.#writeContext(resource, ns, parsed.name);
      if (mediaType(contentType) === "application/apply-patch+yaml") {
        const out = applyPatch(ctx, text, query);
        return reply(out.code, out.payload);
      }
      if (mediaType(contentType) === "application/merge-patch+json") {
        const out = mergePatch(ctx, body);
        return reply(out.code, out.payload);
      }
      return reply(
        415,
        statusBody(
          415,
          "UnsupportedMediaType",
          `the body of the request was in an unknown format: ${contentType} (the test API server takes apply and merge patches)`,
        ),
      );
    }
    if (method === "PATCH" && parsed.subresource === "status") {
      if (mediaType(contentType) !== "application/merge-patch+json") {
        return reply(
          415,
          statusBody(
            415,
            "UnsupportedMediaType",
            `the body of the request was in an unknown format: ${contentType}`,
          ),
        );
      }
      if (!isObject(body))
        return reply(400, statusBody(400, "BadRequest", "the patch must be a JSON object"));
      const current = this.storage.get(resource, ns, parsed.name);
      if (current === undefined) {
        return reply(404, statusBody(404, "NotFound", `${resource.plural} "${parsed.name}" not found`));
      }
      const precondition = isObject(body.metadata) ? body.metadata.resourceVersion : undefined;
      const patched = applyMergePatch(current, body) as ApiObject;
      const result = this.storage.updateStatus(
        resource,
        ns,
        parsed.name,
        patched.status,
        typeof precondition === "string" ? precondition : undefined,
      );
      return this.#replyWrite(resource, result, 200, reply);
    }
    if (method === "DELETE" && parsed.subresource === undefined) {
      // DeleteOptions in the body may carry preconditions: delete only the object the client saw.
      const pre = isObject(body) && isObject(body.preconditions) ? body.preconditions : {};
      const result = this.storage.delete(resource, ns, parsed.name, {
        ...(typeof pre.uid === "string" ? { uid: pre.uid } : {}),
        ...(typeof pre.resourceVersion === "string" ? { resourceVersion: pre.resourceVersion } : {}),
      });
      return this.#replyWrite(resource, result, 200, reply);
    }
    return reply(405, statusBody(405, "MethodNotAllowed", `${method} is not supported here`));
  }

  #list(
    resource: ServedResource,
    parsed: ParsedPath,
    query: Record<string, string>,
    reply: Reply,
  ): undefined {
    let snapshot: ListSnapshot;
    let offset = 0;
    let id: string;
    if (query.continue !== undefined && query.continue !== "") {
      const token = decodeContinue(query.continue);
      const found = token === undefined ? undefined : this.#snapshots.get(token.id);
      if (token === undefined || found === undefined) {
        return reply(
          410,
          statusBody(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result.",
          ),
        );
      }
      snapshot = found;
      offset = token.offset;
      id = token.id;
    } else {
      snapshot = { rv: this.storage.resourceVersion, items: this.storage.list(resource, parsed.namespace) };
      id = String(++this.#snapshotSeq);
    }
    const limit = query.limit === undefined ? 0 : Number(query.limit);
    if (!Number.isInteger(limit) || limit < 0) {
      return reply(400, statusBody(400, "BadRequest", `invalid limit ${query.limit}`));
    }
    const page = limit > 0 ? snapshot.items.slice(offset, offset + limit) : snapshot.items.slice(offset);
    const next = offset + page.length;
    const more = next < snapshot.items.length;
    if (more) this.#snapshots.set(id, snapshot);
    else this.#snapshots.delete(id);
    reply(200, {
      apiVersion: apiVersionOfResource(resource),
      kind: `${resource.kind}List`,
      metadata: {
        resourceVersion: String(snapshot.rv),
        ...(more
          ? { continue: encodeContinue(id, next), remainingItemCount: snapshot.items.length - next }
          : {}),
      },
      items: page.map((o) => {
        if (!isBuiltIn(resource)) return this.#out(resource, o);
        const { apiVersion: _a, kind: _k, ...item } = o;
        return item;
      }),
    });
  }

  #watch(
    resource: ServedResource,
    parsed: ParsedPath,
    query: Record<string, string>,
    res: ServerResponse,
    reply: Reply,
  ): undefined {
    const from = query.resourceVersion;
    if (from !== undefined && from !== "" && !/^\d+$/.test(from)) {
      return reply(400, statusBody(400, "BadRequest", `invalid resource version "${from}"`));
    }
    const timeout = query.timeoutSeconds === undefined ? undefined : Number(query.timeoutSeconds);
    const stream = new WatchStream({
      resource,
      namespace: parsed.namespace,
      bookmarks: query.allowWatchBookmarks === "true",
      response: res,
      timeoutSeconds: timeout,
      onClose: () => this.#watches.delete(stream),
    });
    // Catch-up and subscription happen in one synchronous step, so no event falls between them.
    if (from === undefined || from === "" || from === "0") {
      for (const obj of this.storage.list(resource, parsed.namespace)) stream.added(obj);
    } else {
      const events = this.storage.eventsSince(resource, Number(from));
      if (events === "expired") {
        stream.error(expired(this.storage.compactedResourceVersion, from));
        return;
      }
      for (const event of events) stream.change(event);
    }
    this.#watches.add(stream);
  }

  #create(resource: ServedResource, parsed: ParsedPath, body: unknown, reply: Reply): undefined {
    // generateName: the server picks the name, the prefix and five random characters.
    if (isObject(body) && isObject(body.metadata) && body.metadata.name === undefined) {
      const prefix = body.metadata.generateName;
      if (typeof prefix === "string" && prefix !== "") {
        const suffix = Array.from(
          { length: 5 },
          () => "bcdfghjklmnpqrstvwxz2456789"[Math.floor(Math.random() * 27)],
        );
        body.metadata.name = `${prefix}${suffix.join("")}`;
      }
    }
    if (!isObject(body) || !isObject(body.metadata) || typeof body.metadata.name !== "string") {
      return reply(422, statusBody(422, "Invalid", "metadata.name: Required value"));
    }
    const input = body as unknown as ApiObject;
    const ns = resource.namespaced ? (parsed.namespace ?? input.metadata.namespace) : undefined;
    const { resourceVersion: _rv, ...metadata } = input.metadata;
    const prepared = prepareWrite(
      this.#writeContext(resource, ns, metadata.name),
      { ...input, metadata: { ...metadata, ...(ns === undefined ? {} : { namespace: ns }) } },
      undefined,
    );
    if (isStatus(prepared)) return reply(prepared.code, prepared);
    this.#replyWrite(resource, this.storage.create(resource, prepared), 201, reply);
  }

  #writeContext(resource: ServedResource, namespace: string | undefined, name: string): WriteContext {
    return { storage: this.storage, services: this.#services, resource, namespace, name };
  }

  #replyWrite(resource: ServedResource, result: WriteResult, okCode: number, reply: Reply): undefined {
    if (result.ok) reply(okCode, this.#out(resource, result.object));
    else reply(result.code, statusBody(result.code, result.reason, result.message));
  }

  #out(resource: ServedResource, obj: ApiObject): ApiObject {
    return { ...obj, apiVersion: apiVersionOfResource(resource), kind: resource.kind };
  }

  #resourceOf(kind: string): ServedResource {
    const resource = findResourceByKind(kind);
    if (resource === undefined) throw new Error(`test API server: unknown kind ${kind}`);
    return resource;
  }
}

function expired(compacted: number, requested?: string): StatusBody {
  return statusBody(
    410,
    "Expired",
    requested === undefined
      ? "The resourceVersion for the provided watch is too old."
      : `too old resource version: ${requested} (${compacted})`,
  );
}

function send(res: ServerResponse, code: number, payload: unknown): void {
  const text = JSON.stringify(sortKeys(payload));
  res.writeHead(code, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

/** The media type of a Content-Type header, without parameters. */
function mediaType(contentType: string | undefined): string | undefined {
  return contentType?.split(";")[0]?.trim().toLowerCase();
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function unwrap(result: WriteResult): ApiObject {
  if (!result.ok) throw new Error(`test API server: ${result.message}`);
  return result.object;
}

function encodeContinue(id: string, offset: number): string {
  return Buffer.from(JSON.stringify({ id, offset })).toString("base64url");
}

function decodeContinue(token: string): { id: string; offset: number } | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as unknown;
    if (isObject(parsed) && typeof parsed.id === "string" && typeof parsed.offset === "number") {
      return { id: parsed.id, offset: parsed.offset };
    }
  } catch {
    // fall through: an unreadable token is an expired one
  }
  return undefined;
}
