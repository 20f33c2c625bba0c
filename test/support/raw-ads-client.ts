/**
 * A raw xDS client for protocol tests: real gRPC (@grpc/grpc-js), requests
 * built and responses decoded with protobufjs and the Envoy protos, so it
 * checks strait's hand-assembled responses against the real message types.
 * It does nothing on its own: every request (ACK, NACK, subscription) is
 * the test's.
 */
import {
  type ChannelCredentials,
  Client,
  type ClientDuplexStream,
  credentials,
  type StatusObject,
} from "@grpc/grpc-js";
import { decodeResource, findType, messageFromJson } from "../../src/xds/proto/index.ts";

const SERVICE = "/envoy.service.discovery.v3.AggregatedDiscoveryService";

function type(name: string) {
  const t = findType(name);
  if (t === undefined) throw new Error(`no ${name}`);
  return t;
}

const REQUEST = type("envoy.service.discovery.v3.DiscoveryRequest");
const RESPONSE = type("envoy.service.discovery.v3.DiscoveryResponse");
const DELTA_REQUEST = type("envoy.service.discovery.v3.DeltaDiscoveryRequest");
const DELTA_RESPONSE = type("envoy.service.discovery.v3.DeltaDiscoveryResponse");

export interface DecodedResource {
  readonly name: string;
  /** Delta only. */
  readonly version?: string;
  readonly json: Record<string, unknown>;
}

export interface Response {
  /** SotW version_info, or delta system_version_info. */
  readonly version: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly DecodedResource[];
  /** Delta removed_resources. */
  readonly removed: readonly string[];
}

function nameOf(json: Record<string, unknown>): string {
  return String(json.name ?? json.cluster_name ?? "");
}

export type Mode = "sotw" | "delta";

export class RawAdsClient {
  readonly mode: Mode;
  readonly #client: Client;
  readonly #call: ClientDuplexStream<Buffer, Buffer>;
  readonly #queue: Response[] = [];
  #waiters: ((r: Response) => void)[] = [];
  readonly ended: Promise<StatusObject>;

  constructor(address: string, mode: Mode, creds: ChannelCredentials = credentials.createInsecure()) {
    this.mode = mode;
    // A channel of its own (no subchannel sharing), as separate clients would have.
    this.#client = new Client(address, creds, { "grpc.use_local_subchannel_pool": 1 });
    const method = mode === "sotw" ? "StreamAggregatedResources" : "DeltaAggregatedResources";
    this.#call = this.#client.makeBidiStreamRequest(
      `${SERVICE}/${method}`,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => bytes,
    );
    this.ended = new Promise((resolve) => this.#call.on("status", resolve));
    this.#call.on("error", () => {});
    this.#call.on("data", (bytes: Buffer) => {
      const response = mode === "sotw" ? decodeSotw(bytes) : decodeDelta(bytes);
      const waiter = this.#waiters.shift();
      if (waiter !== undefined) waiter(response);
      else this.#queue.push(response);
    });
  }

  /** Sends a request given as proto3 JSON (snake_case field names). */
  send(request: Record<string, unknown>): void {
    const { message, issues } = messageFromJson(this.mode === "sotw" ? REQUEST : DELTA_REQUEST, request);
    if (message === undefined) throw new Error(issues.map((i) => `${i.path}: ${i.message}`).join("; "));
    this.#call.write(Buffer.from((this.mode === "sotw" ? REQUEST : DELTA_REQUEST).encode(message).finish()));
  }

  /** Sends bytes as they are (for malformed-request tests). */
  sendRaw(bytes: Buffer): void {
    this.#call.write(bytes);
  }

  /** The next response; fails after `timeoutMs`. */
  next(timeoutMs = 3000): Promise<Response> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`no xDS response within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (r: Response) => {
        clearTimeout(timer);
        resolve(r);
      };
      this.#waiters.push(waiter);
    });
  }

  /** Resolves if no response arrives within `ms`; rejects with the response otherwise. */
  async quiet(ms = 300): Promise<void> {
    const response = await this.next(ms).catch(() => undefined);
    if (response !== undefined) {
      throw new Error(
        `expected no response, got ${response.typeUrl} ${response.version}: ${response.resources.map((r) => r.name).join(", ")} removed ${response.removed.join(", ")}`,
      );
    }
  }

  close(): void {
    this.#call.cancel();
    this.#client.close();
  }
}

function decodeSotw(bytes: Buffer): Response {
  const m = RESPONSE.toObject(RESPONSE.decode(bytes)) as {
    version_info?: string;
    type_url?: string;
    nonce?: string;
    resources?: { type_url: string; value: Uint8Array }[];
  };
  return {
    version: m.version_info ?? "",
    typeUrl: m.type_url ?? "",
    nonce: m.nonce ?? "",
    resources: (m.resources ?? []).map((any) => {
      const json = decodeResource(any.type_url, any.value) as Record<string, unknown>;
      return { name: nameOf(json), json };
    }),
    removed: [],
  };
}

function decodeDelta(bytes: Buffer): Response {
  const m = DELTA_RESPONSE.toObject(DELTA_RESPONSE.decode(bytes)) as {
    system_version_info?: string;
    type_url?: string;
    nonce?: string;
    resources?: { name: string; version: string; resource: { type_url: string; value: Uint8Array } }[];
    removed_resources?: string[];
  };
  return {
    version: m.system_version_info ?? "",
    typeUrl: m.type_url ?? "",
    nonce: m.nonce ?? "",
    resources: (m.resources ?? []).map((r) => {
      const json = decodeResource(r.resource.type_url, r.resource.value) as Record<string, unknown>;
      if (nameOf(json) !== r.name)
        throw new Error(`Resource.name ${r.name} is not the resource's name ${nameOf(json)}`);
      return { name: r.name, version: r.version, json };
    }),
    removed: m.removed_resources ?? [],
  };
}
