/**
 * One ADS stream (one client connection's StreamAggregatedResources or
 * DeltaAggregatedResources call): the machinery both variants share.
 *
 * Requests update per-type state (type-state.ts); responses are computed
 * when the stream can take one, never queued: a stream has at most one
 * response in flight, and when it completes the next is computed from the
 * newest snapshot. So a slow client costs one response of memory, never a
 * backlog, and a client that stops reading for longer than the write timeout
 * is cut off without holding anything up.
 *
 * Make before break: types go out in push order (clusters, endpoints,
 * listeners, routes), and a type waits until the client has answered (ACK or
 * NACK) the responses of the types before it, because only then has it asked
 * for the endpoints of new clusters (Envoy and gRPC subscribe to a cluster's
 * endpoints when the cluster arrives). Removals go last, once every response
 * was answered. A client that does not answer holds its own pushes up for
 * at most ACK_WAIT_MS.
 */
import type { PeerCertificate } from "node:tls";
import { type ServerDuplexStream, status } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { messageOf } from "../../errors.ts";
import { type NodeInfo, UNKNOWN_NODE } from "../cache/node.ts";
import { pushRank, typeInfo } from "../cache/resource-types.ts";
import type { Snapshot } from "../cache/snapshot.ts";
import type { SnapshotCache } from "../cache/snapshot-cache.ts";
import type { ResourceEntry } from "../cache/type-snapshot.ts";
import type { ClientStatus, NackStatus, SentStatus, TypeStatus, XdsAnswer } from "./client-status.ts";
import type { XdsMetrics } from "./metrics.ts";
import type { Decoded } from "./requests.ts";
import type { SendBudget } from "./send-budget.ts";
import { type EncodedResponse, sharedResponse } from "./shared-responses.ts";
import { type SubscriptionChange, TypeState, type TypeUpdate } from "./type-state.ts";
import type { WriteDeadlines } from "./write-deadlines.ts";

export interface XdsLimits {
  /** Open streams over all clients; more are refused with RESOURCE_EXHAUSTED. */
  readonly maxStreams: number;
  /** Largest request accepted (gRPC max receive message length). */
  readonly maxMessageBytes: number;
  /** Resource names one stream may subscribe to, over all types. */
  readonly maxSubscriptionsPerStream: number;
  /** A response not taken by the client within this time cuts the client off. */
  readonly writeTimeoutMs: number;
  /** Bytes of responses in flight over all streams (see send-budget.ts). */
  readonly maxBytesInFlight: number;
}

/** Distinct type URLs one stream may ask for: strait serves five, agents add a few. */
export const MAX_TYPES_PER_STREAM = 32;

export interface StreamContext {
  readonly cache: SnapshotCache;
  readonly logger: Logger;
  readonly metrics: XdsMetrics | undefined;
  readonly limits: XdsLimits;
  readonly budget: SendBudget;
  /** The write timeout of every stream (one timer for all). */
  readonly deadlines: WriteDeadlines;
  /** Ends the client's connection at once (it stopped reading). */
  readonly cutOff: (peer: string) => void;
  readonly closed: (stream: AdsStream<unknown>) => void;
  /** Every ACK and NACK of a response, with the resources it carried (NACK into status). */
  readonly answered?: (answer: XdsAnswer) => void;
  /**
   * Whether the client's TLS certificate may speak for the node it announces;
   * the reason when not (the stream ends with PERMISSION_DENIED).
   */
  readonly authorizeNode?: (
    node: NodeInfo,
    peerCertificate: PeerCertificate | undefined,
  ) => string | undefined;
}

/**
 * A response sent for one type, as remembered for ACK/NACK matching and
 * status. Its lists are the response's own (shared by every stream that got
 * the same shared response), never copied per stream: an idle client holds
 * a few records of pointers, whatever the size of its configuration.
 */
interface Sent extends SentStatus {
  /** Every resource it carried (the snapshot's entries). */
  readonly entries: readonly ResourceEntry[];
  /** The names it said were removed. */
  readonly removedNames: readonly string[];
}

/** Some of a response's resource names, for the NACK log. */
function namesOf(sent: Sent): string[] {
  return [
    ...sent.entries.slice(0, NAMES_IN_LOG).map((e) => e.name),
    ...sent.removedNames.slice(0, NAMES_IN_LOG),
  ];
}

interface TypeRecord {
  /** The last few responses (delta ACKs may name any response still in flight). */
  sent: Sent[];
  acked: TypeStatus["lastAcked"];
  nacked: NackStatus | undefined;
  nacks: number;
}

const REMEMBERED_RESPONSES = 4;
/** How long later types wait for the answer to an earlier type's response. */
export const ACK_WAIT_MS = 2000;
const NAMES_IN_LOG = 10;

/**
 * Work for the next turn of the event loop, with one setImmediate for all of
 * it: a snapshot change schedules every stream at once, and an Immediate per
 * stream was 10,000 timer objects per push. Each task catches its own errors.
 */
const soon: (() => void)[] = [];
function runSoon(task: () => void): void {
  soon.push(task);
  if (soon.length === 1) setImmediate(runDue);
}
function runDue(): void {
  // Tasks scheduled while these run wait for the next turn, as with setImmediate.
  const due = soon.splice(0);
  for (const task of due) task();
}

export abstract class AdsStream<Request> {
  readonly id: number;
  readonly mode: "sotw" | "delta";
  readonly peer: string;
  readonly connectedAt = new Date();
  protected readonly context: StreamContext;
  readonly #call: ServerDuplexStream<Decoded<Request>, Buffer>;
  readonly #types = new Map<string, TypeState>();
  readonly #records = new Map<string, TypeRecord>();
  #ordered: TypeState[] = [];
  #node: NodeInfo | undefined;
  #nonce = 0;
  /** Set from the moment a response is taken until the client has read it (or the stream ends). */
  #writing = false;
  /** Bytes this stream holds of the shared budget, and how to give up its place in the queue. */
  #budgetHeld = 0;
  #cancelWait: (() => void) | undefined;
  #scheduled = false;
  #closed = false;
  #waitTimer: NodeJS.Timeout | undefined;
  /** Types with a response the client has not answered yet: nonce and when it was sent. */
  readonly #unanswered = new Map<string, { nonce: string; at: number }>();
  readonly #unsubscribe: () => void;

  constructor(
    id: number,
    mode: "sotw" | "delta",
    call: ServerDuplexStream<Decoded<Request>, Buffer>,
    context: StreamContext,
  ) {
    this.id = id;
    this.mode = mode;
    this.#call = call;
    this.context = context;
    this.peer = call.getPeer();
    this.#unsubscribe = context.cache.subscribe(() => this.schedule());
    context.metrics?.connectedClients.inc({ mode });
    call.on("data", (decoded: Decoded<Request>) => this.#onData(decoded));
    call.on("end", () => {
      // The client half-closed: finish our side too.
      if (!this.#closed) call.end();
      this.#cleanup();
    });
    call.on("cancelled", () => this.#cleanup());
    call.on("close", () => this.#cleanup());
    call.on("error", () => this.#cleanup());
  }

  get node(): NodeInfo {
    return this.#node ?? UNKNOWN_NODE;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Handles one decoded request of this variant. */
  protected abstract handle(request: Request): void;

  /** Encodes a response of this variant. */
  protected abstract encode(state: TypeState, update: TypeUpdate, nonce: string): Buffer;

  /** Ends the stream with a status (a protocol error of the client, or a limit). */
  fail(code: status, details: string, reason: string): void {
    if (this.#closed) return;
    const level = reason === "shutdown" ? "info" : "warn";
    this.context.logger[level](
      { stream: this.id, node: this.node.id, peer: this.peer, code: status[code], reason },
      `xDS stream ended: ${details}`,
    );
    this.context.metrics?.closedStreams.inc({ reason });
    this.#cleanup();
    this.#call.emit("error", { code, details });
  }

  status(): ClientStatus {
    return {
      stream: this.id,
      mode: this.mode,
      peer: this.peer,
      connectedAt: this.connectedAt.toISOString(),
      node: { id: this.node.id, cluster: this.node.cluster, userAgent: this.node.userAgent },
      types: this.#ordered.map((state) => {
        const record = this.#record(state.typeUrl);
        const last = record.sent.at(-1);
        return {
          typeUrl: state.typeUrl,
          type: state.info.short,
          wildcard: state.wildcard,
          names: state.names.length,
          ...(last === undefined
            ? {}
            : {
                lastSent: {
                  version: last.version,
                  nonce: last.nonce,
                  at: last.at,
                  resources: last.resources,
                  removed: last.removed,
                },
              }),
          ...(record.acked === undefined ? {} : { lastAcked: record.acked }),
          ...(record.nacked === undefined ? {} : { lastNacked: record.nacked }),
          nacks: record.nacks,
        };
      }),
    };
  }

  // ---- for the variants ----

  /**
   * The first request's node identifies the client for the whole stream;
   * false (and the stream ended) when its certificate may not speak for it.
   */
  protected adoptNode(node: NodeInfo | undefined): boolean {
    if (this.#node !== undefined) return !this.#closed;
    this.#node = node ?? UNKNOWN_NODE;
    const refused = this.context.authorizeNode?.(this.#node, this.#call.getAuthContext().sslPeerCertificate);
    if (refused !== undefined) {
      this.fail(status.PERMISSION_DENIED, refused, "node-not-authorized");
      return false;
    }
    this.context.logger.info(
      {
        stream: this.id,
        mode: this.mode,
        node: this.#node.id,
        cluster: this.#node.cluster,
        userAgent: this.#node.userAgent,
        peer: this.peer,
      },
      "xDS client connected",
    );
    return true;
  }

  /** The state of a type, created on first use; undefined (and the stream ended) past the limit. */
  protected typeState(typeUrl: string): TypeState | undefined {
    let state = this.#types.get(typeUrl);
    if (state !== undefined) return state;
    if (this.#types.size >= MAX_TYPES_PER_STREAM) {
      this.fail(
        status.RESOURCE_EXHAUSTED,
        `the stream asks for more than ${MAX_TYPES_PER_STREAM} resource types`,
        "limit",
      );
      return undefined;
    }
    const info = typeInfo(typeUrl);
    if (!info.known) {
      this.context.logger.warn(
        { stream: this.id, node: this.node.id, typeUrl },
        "xDS client asked for a resource type strait does not serve; it gets none",
      );
    }
    state = new TypeState(info);
    this.#types.set(typeUrl, state);
    this.#ordered = [...this.#types.values()].sort(
      (a, b) => pushRank(a.typeUrl) - pushRank(b.typeUrl) || (a.typeUrl < b.typeUrl ? -1 : 1),
    );
    return state;
  }

  /** The last response sent for a type with this nonce, if still remembered. */
  protected sentWithNonce(typeUrl: string, nonce: string): Sent | undefined {
    return this.#record(typeUrl).sent.find((s) => s.nonce === nonce);
  }

  protected lastSent(typeUrl: string): Sent | undefined {
    return this.#record(typeUrl).sent.at(-1);
  }

  protected ack(typeUrl: string, version: string, nonce: string): void {
    this.#record(typeUrl).acked = { version, nonce, at: new Date().toISOString() };
    this.answered(typeUrl, nonce);
    this.#report(typeUrl, nonce, undefined);
  }

  #report(typeUrl: string, nonce: string, error: string | undefined): void {
    const sent = nonce === "" ? undefined : this.sentWithNonce(typeUrl, nonce);
    if (sent === undefined || this.context.answered === undefined) return;
    this.context.answered({
      stream: this.id,
      node: this.node.id,
      typeUrl,
      ...(error === undefined ? { accepted: true } : { accepted: false, error }),
      resources: sent.entries.map((e) => ({ name: e.name, version: e.version })),
    });
  }

  /** The client answered the response with this nonce (an ACK, a NACK, or a request carrying it). */
  protected answered(typeUrl: string, nonce: string): void {
    if (this.#unanswered.get(typeUrl)?.nonce !== nonce) return;
    this.#unanswered.delete(typeUrl);
    this.schedule();
  }

  protected nack(typeUrl: string, version: string, nonce: string, error: string): void {
    const record = this.#record(typeUrl);
    const sent = this.sentWithNonce(typeUrl, nonce);
    const names = sent === undefined ? [] : namesOf(sent);
    record.nacked = { version, nonce, at: new Date().toISOString(), error, resources: names };
    record.nacks++;
    this.answered(typeUrl, nonce);
    this.#report(typeUrl, nonce, error);
    const info = typeInfo(typeUrl);
    this.context.metrics?.nacks.inc({ type: info.short });
    // The client keeps its last accepted configuration; strait sends this type again only when it changes.
    this.context.logger.warn(
      {
        stream: this.id,
        node: this.node.id,
        peer: this.peer,
        type: info.short,
        version,
        nonce,
        resources: names,
        error,
      },
      "xDS client rejected a response (NACK)",
    );
  }

  /** Applies subscription limits and on-demand interest after a request; false if the stream ended. */
  protected subscriptionChanged(state: TypeState, change: SubscriptionChange): boolean {
    let total = 0;
    for (const s of this.#types.values()) total += s.subscriptionCount;
    const limit = this.context.limits.maxSubscriptionsPerStream;
    if (total > limit) {
      this.fail(
        status.RESOURCE_EXHAUSTED,
        `the stream subscribes to ${total} resources, more than the limit of ${limit}`,
        "limit",
      );
      return false;
    }
    if (change.added.length > 0) {
      this.context.cache.retain(state.typeUrl, change.added, this.node);
      // Subscribing to new names of this type means the client applied the earlier types' responses
      // that named them (new clusters → their endpoints): those need not wait for their ACK any more.
      // Envoy withholds the ACK of a CDS response until its new clusters have warmed, which takes
      // their endpoints: waiting for that ACK before sending the endpoints would stall every new
      // cluster until ACK_WAIT_MS.
      const rank = pushRank(state.typeUrl);
      for (const typeUrl of [...this.#unanswered.keys()]) {
        if (pushRank(typeUrl) < rank) this.#unanswered.delete(typeUrl);
      }
    }
    if (change.removed.length > 0) this.context.cache.release(state.typeUrl, change.removed, this.node);
    return true;
  }

  /** Computes and sends the next response as soon as the stream can take one. */
  protected schedule(): void {
    if (this.#scheduled || this.#writing || this.#closed) return;
    this.#scheduled = true;
    runSoon(this.#pumpScheduled);
  }

  readonly #pumpScheduled = (): void => {
    this.#scheduled = false;
    this.#pump();
  };

  // ---- internals ----

  #onData(decoded: Decoded<Request>): void {
    if (this.#closed) return;
    if (!decoded.ok) {
      this.fail(status.INVALID_ARGUMENT, decoded.error, "malformed");
      return;
    }
    try {
      this.handle(decoded.value);
    } catch (error) {
      this.context.logger.error({ err: error, stream: this.id }, "xDS request handling failed");
      this.fail(status.INTERNAL, `strait could not handle the request: ${messageOf(error)}`, "internal");
    }
  }

  #record(typeUrl: string): TypeRecord {
    let record = this.#records.get(typeUrl);
    if (record === undefined) {
      record = { sent: [], acked: undefined, nacked: undefined, nacks: 0 };
      this.#records.set(typeUrl, record);
    }
    return record;
  }

  #next(snapshot: Snapshot): { state: TypeState; update: TypeUpdate } | undefined {
    const now = Date.now();
    let waitUntil = Number.POSITIVE_INFINITY;
    const waiting = (state: TypeState): boolean => {
      const pending = this.#unanswered.get(state.typeUrl);
      if (pending === undefined) return false;
      if (now - pending.at >= ACK_WAIT_MS) return false; // no answer in time: carry on regardless
      waitUntil = Math.min(waitUntil, pending.at + ACK_WAIT_MS);
      return true;
    };
    let blocked = false;
    for (const state of this.#ordered) {
      const update = state.takeUpdate(snapshot.type(state.typeUrl), this.mode);
      if (update !== undefined) return { state, update };
      // Later types wait for the client's answer to this one (it may subscribe to new endpoints first).
      if (waiting(state)) {
        blocked = true;
        break;
      }
    }
    if (!blocked && !this.#ordered.some(waiting)) {
      // Everything is up to date and answered: now removals, users before what they use.
      for (let i = this.#ordered.length - 1; i >= 0; i--) {
        const state = this.#ordered[i] as TypeState;
        const update = state.takeRemovals(snapshot.type(state.typeUrl), this.mode);
        if (update !== undefined) return { state, update };
      }
    }
    if (waitUntil !== Number.POSITIVE_INFINITY) {
      clearTimeout(this.#waitTimer);
      this.#waitTimer = setTimeout(() => this.schedule(), waitUntil - now + 1);
    }
    return undefined;
  }

  #pump(): void {
    try {
      this.#pumpOnce();
    } catch (error) {
      // A bug here must end this stream only, never the process or the other streams.
      this.context.logger.error({ err: error, stream: this.id }, "xDS push failed");
      this.#releaseBudget();
      this.fail(status.INTERNAL, `strait could not build a response: ${messageOf(error)}`, "internal");
    }
  }

  #pumpOnce(): void {
    if (this.#closed || this.#writing) return;
    const snapshot = this.context.cache.snapshotFor(this.node);
    if (snapshot === undefined) return; // nothing published yet: the client waits
    const next = this.#next(snapshot);
    if (next === undefined) return;
    // The update holds shared, already encoded resources: cheap to keep while waiting for the budget.
    this.#writing = true;
    const size = next.update.resources.reduce((n, e) => n + e.bytes.length + e.name.length + 64, 256);
    this.#cancelWait = this.context.budget.request(size, () => {
      this.#cancelWait = undefined;
      this.#budgetHeld = size;
      if (this.#closed) {
        this.#releaseBudget();
        return;
      }
      try {
        this.#send(next.state, next.update);
      } catch (error) {
        this.context.logger.error({ err: error, stream: this.id }, "xDS push failed");
        this.#releaseBudget();
        this.fail(status.INTERNAL, `strait could not send a response: ${messageOf(error)}`, "internal");
      }
    });
  }

  #encodeResponse(state: TypeState, update: TypeUpdate): EncodedResponse {
    const encode = (nonce: string) => this.encode(state, update, nonce);
    const shared = sharedResponse(update, this.lastSent(state.typeUrl)?.nonce, encode);
    if (shared !== undefined) return shared;
    const nonce = String(++this.#nonce);
    return { nonce, bytes: encode(nonce), resources: update.resources, removed: update.removed };
  }

  #send(state: TypeState, update: TypeUpdate): void {
    const { nonce, bytes, resources, removed } = this.#encodeResponse(state, update);
    const record = this.#record(state.typeUrl);
    record.sent.push({
      version: update.version,
      nonce,
      at: new Date().toISOString(),
      resources: resources.length,
      removed: removed.length,
      entries: resources,
      removedNames: removed,
    });
    if (record.sent.length > REMEMBERED_RESPONSES) record.sent.shift();
    this.#unanswered.set(state.typeUrl, { nonce, at: Date.now() });
    const labels = { type: state.info.short, mode: this.mode };
    this.context.metrics?.pushes.inc(labels);
    this.context.metrics?.pushBytes.inc(labels, bytes.length);
    this.context.logger.debug(
      {
        stream: this.id,
        node: this.node.id,
        type: state.info.short,
        version: update.version,
        nonce,
        resources: update.resources.length,
        removed: update.removed.length,
        bytes: bytes.length,
      },
      "xDS push",
    );
    this.context.deadlines.start(this, () => this.#tooSlow());
    this.#call.write(bytes, () => {
      this.context.deadlines.done(this);
      this.#releaseBudget();
      this.#writing = false;
      this.schedule();
    });
  }

  #releaseBudget(): void {
    if (this.#budgetHeld === 0) return;
    const held = this.#budgetHeld;
    this.#budgetHeld = 0;
    this.context.budget.release(held);
  }

  #tooSlow(): void {
    if (this.#closed) return;
    this.context.logger.warn(
      { stream: this.id, node: this.node.id, peer: this.peer, ms: this.context.limits.writeTimeoutMs },
      "xDS client did not take a response in time; its connection is cut off",
    );
    this.context.metrics?.closedStreams.inc({ reason: "slow" });
    this.#cleanup();
    this.context.cutOff(this.peer);
  }

  #cleanup(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.context.deadlines.done(this);
    clearTimeout(this.#waitTimer);
    this.#cancelWait?.();
    this.#releaseBudget();
    this.#unsubscribe();
    this.context.metrics?.connectedClients.dec({ mode: this.mode });
    for (const state of this.#types.values()) {
      if (state.allNames().length > 0) this.context.cache.release(state.typeUrl, state.allNames(), this.node);
    }
    this.context.closed(this as AdsStream<unknown>);
  }
}
