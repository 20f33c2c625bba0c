/**
 * The client side of `npm run bench:xds`, in its own process: N ADS streams,
 * each on its own connection, each behaving like an Envoy (wildcard CDS and
 * LDS, named EDS and RDS, an ACK for every response). Requests are
 * hand-encoded and responses only scanned (version, nonce, type, size), so
 * this process spends its time on the wire, not on protobuf. Driven over IPC
 * by bench/xds.ts and bench/xds-fanout.ts.
 *
 * With `order: "envoy"` a stream subscribes as Envoy does: CDS and LDS
 * wildcard first, EDS for the clusters once CDS arrived, RDS for the route
 * configurations once LDS arrived; otherwise every type is asked for at once.
 */
import type { EventLoopUtilization } from "node:perf_hooks";
import { Client, type ClientDuplexStream, credentials } from "@grpc/grpc-js";

type Mode = "sotw" | "delta";

interface Start {
  readonly cmd: "start";
  readonly address: string;
  readonly from: number;
  readonly count: number;
  readonly mode: Mode;
  /** Type URL → names to subscribe to (empty: wildcard). */
  readonly subscriptions: Readonly<Record<string, readonly string[]>>;
  /** "envoy": named types only after the type that names them arrived (default: all at once). */
  readonly order?: "envoy" | "all";
}
interface Collect {
  readonly cmd: "collect";
  readonly t0: number;
  readonly typeUrl: string;
  readonly settleMs: number;
  readonly timeoutMs: number;
}
type Command =
  | Start
  | { readonly cmd: "mark" }
  | Collect
  | { readonly cmd: "clock" }
  | { readonly cmd: "memory" }
  | { readonly cmd: "stop" };

/** Envoy asks for a named type once the type naming its resources arrived: clusters name endpoints, listeners routes. */
const NAMED_AFTER: Readonly<Record<string, string>> = {
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment":
    "type.googleapis.com/envoy.config.cluster.v3.Cluster",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration":
    "type.googleapis.com/envoy.config.listener.v3.Listener",
};

const now = () => performance.timeOrigin + performance.now();

// ---- minimal protobuf ----

function varint(value: number): Buffer {
  const bytes: number[] = [];
  let v = value;
  while (v > 0x7f) {
    bytes.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  bytes.push(v);
  return Buffer.from(bytes);
}
const field = (n: number, payload: Buffer) =>
  Buffer.concat([varint((n << 3) | 2), varint(payload.length), payload]);
const str = (n: number, s: string) => field(n, Buffer.from(s));

function readVarint(b: Buffer, at: number): [number, number] {
  let result = 0;
  let shift = 1;
  let i = at;
  for (;;) {
    const byte = b[i++] as number;
    result += (byte & 0x7f) * shift;
    if (byte < 0x80) return [result, i];
    shift *= 128;
  }
}

interface Scanned {
  version: string;
  typeUrl: string;
  nonce: string;
  resources: number;
}

/** version (1), resources (2), type_url (4), nonce (5): the same numbers in both response types. */
function scan(b: Buffer): Scanned {
  const out: Scanned = { version: "", typeUrl: "", nonce: "", resources: 0 };
  let i = 0;
  while (i < b.length) {
    const [key, afterKey] = readVarint(b, i);
    const [len, afterLen] = readVarint(b, afterKey);
    const n = key >>> 3;
    if (n === 1) out.version = b.toString("utf8", afterLen, afterLen + len);
    else if (n === 2) out.resources++;
    else if (n === 4) out.typeUrl = b.toString("utf8", afterLen, afterLen + len);
    else if (n === 5) out.nonce = b.toString("utf8", afterLen, afterLen + len);
    i = afterLen + len;
  }
  return out;
}

// ---- clients ----

interface Tracked {
  version: Map<string, string>;
  bytes: number;
  responses: number;
  base: Map<string, string>;
  changedAt: Map<string, number>;
}

const clients: { client: Client; call: ClientDuplexStream<Buffer, Buffer>; tracked: Tracked }[] = [];
/** Streams that failed and were opened again. */
let streamErrors = 0;
let stopping = false;
/** The event loop's use and CPU time from the last mark on: whether this process kept up. */
let sinceMark: { elu: EventLoopUtilization; cpu: NodeJS.CpuUsage } | undefined;
const errorsByReason = new Map<string, number>();
const namesField = new Map<string, Buffer>();

function namesOf(mode: Mode, typeUrl: string, names: readonly string[]): Buffer {
  const key = `${mode} ${typeUrl}`;
  let bytes = namesField.get(key);
  if (bytes === undefined) {
    // SotW resource_names is field 3, delta resource_names_subscribe is field 3 too.
    bytes = Buffer.concat(names.map((name) => str(3, name)));
    namesField.set(key, bytes);
  }
  return bytes;
}

function startOne(index: number, start: Start): void {
  const client = new Client(start.address, credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
    "grpc.max_receive_message_length": -1,
  });
  const method = start.mode === "sotw" ? "StreamAggregatedResources" : "DeltaAggregatedResources";
  const tracked: Tracked = {
    version: new Map(),
    bytes: 0,
    responses: 0,
    base: new Map(),
    changedAt: new Map(),
  };
  const entry = { client, call: open(), tracked };
  clients.push(entry);

  // One stream; when it fails (the server was too busy to take the connection in time, or cut
  // the client off), another after a second or so, as Envoy retries, from nothing.
  function open(): ClientDuplexStream<Buffer, Buffer> {
    const call = client.makeBidiStreamRequest(
      `/envoy.service.discovery.v3.AggregatedDiscoveryService/${method}`,
      (b: Buffer) => b,
      (b: Buffer) => b,
    );
    tracked.version.clear();
    call.on("error", (error: Error & { code?: number; details?: string }) => {
      if (stopping) return;
      streamErrors++;
      // Without the time stamps grpc-js puts in its messages, so equal reasons count together.
      const why = `${error.code ?? ""} ${error.details ?? error.message}`.replace(
        / \([^)]*\d{4}-\d\d-\d\dT[^)]*\)/g,
        "",
      );
      errorsByReason.set(why, (errorsByReason.get(why) ?? 0) + 1);
      setTimeout(
        () => {
          if (!stopping) entry.call = open();
        },
        500 + Math.random() * 1000,
      );
    });
    const node = field(start.mode === "sotw" ? 2 : 1, str(1, `bench-${index}`));
    let first = true;
    const request = (typeUrl: string) => {
      const names = start.subscriptions[typeUrl] ?? [];
      const parts =
        start.mode === "sotw"
          ? [str(4, typeUrl), namesOf("sotw", typeUrl, names)]
          : [str(2, typeUrl), namesOf("delta", typeUrl, names)];
      if (first) parts.unshift(node);
      first = false;
      call.write(Buffer.concat(parts));
    };
    const envoyOrder = start.order === "envoy";
    const later = new Map<string, string>(); // type that names them → named type, asked for on its arrival
    for (const typeUrl of Object.keys(start.subscriptions)) {
      const after = NAMED_AFTER[typeUrl];
      if (envoyOrder && after !== undefined && after in start.subscriptions) later.set(after, typeUrl);
      else request(typeUrl);
    }
    call.on("data", (bytes: Buffer) => {
      const at = now();
      const r = scan(bytes);
      tracked.bytes += bytes.length;
      tracked.responses++;
      tracked.version.set(r.typeUrl, r.version);
      if (!tracked.changedAt.has(r.typeUrl) && tracked.base.get(r.typeUrl) !== r.version)
        tracked.changedAt.set(r.typeUrl, at);
      const next = later.get(r.typeUrl);
      if (next !== undefined) {
        // Envoy subscribes to the endpoints of new clusters (the routes of new listeners) before it ACKs them.
        later.delete(r.typeUrl);
        request(next);
      }
      // ACK: the version and nonce, and (SotW) the full subscription again.
      const ack =
        start.mode === "sotw"
          ? Buffer.concat([
              str(1, r.version),
              namesOf("sotw", r.typeUrl, start.subscriptions[r.typeUrl] ?? []),
              str(4, r.typeUrl),
              str(5, r.nonce),
            ])
          : Buffer.concat([str(2, r.typeUrl), str(6, r.nonce)]);
      call.write(ack);
    });
    return call;
  }
}

function send(message: Record<string, unknown>): void {
  process.send?.(message);
}

async function until(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

process.on("message", async (command: Command) => {
  if (command.cmd === "start") {
    const types = Object.keys(command.subscriptions);
    const started = now();
    for (let i = 0; i < command.count; i++) {
      startOne(command.from + i, command);
      // Connect in small waves, as a fleet of nodes would.
      if (i % 50 === 49) await new Promise((r) => setTimeout(r, 10));
    }
    const synced = () => clients.filter((c) => types.every((t) => c.tracked.version.has(t))).length;
    const progress = setInterval(() => {
      const byType = types.map(
        (t) => `${t.split(".").at(-1)}=${clients.filter((c) => c.tracked.version.has(t)).length}`,
      );
      process.stderr.write(
        `xds-clients: ${synced()}/${clients.length} synced (${byType.join(" ")}), ${streamErrors} streams failed and reopened\n`,
      );
    }, 5000);
    const ok = await until(() => synced() === clients.length, 600_000);
    clearInterval(progress);
    send({
      event: "synced",
      ok,
      clients: clients.length,
      ms: now() - started,
      streamErrors,
      errorsByReason: Object.fromEntries(errorsByReason),
    });
  } else if (command.cmd === "clock") {
    send({ event: "clock", now: now() });
  } else if (command.cmd === "memory") {
    const m = process.memoryUsage();
    send({ event: "memory", rss: m.rss, heapUsed: m.heapUsed, clients: clients.length });
  } else if (command.cmd === "mark") {
    sinceMark = { elu: performance.eventLoopUtilization(), cpu: process.cpuUsage() };
    for (const c of clients) {
      c.tracked.base = new Map(c.tracked.version);
      c.tracked.changedAt = new Map();
      c.tracked.bytes = 0;
      c.tracked.responses = 0;
    }
    send({ event: "marked" });
  } else if (command.cmd === "collect") {
    const got = () => clients.every((c) => c.tracked.changedAt.has(command.typeUrl));
    const ok = await until(got, command.timeoutMs);
    await new Promise((r) => setTimeout(r, command.settleMs));
    send({
      event: "collected",
      ok,
      latencies: clients.map((c) => (c.tracked.changedAt.get(command.typeUrl) ?? Number.NaN) - command.t0),
      bytes: clients.map((c) => c.tracked.bytes),
      responses: clients.map((c) => c.tracked.responses),
      ...(sinceMark === undefined
        ? {}
        : {
            loopActiveMs: performance.eventLoopUtilization(sinceMark.elu).active,
            cpuMs: (process.cpuUsage(sinceMark.cpu).user + process.cpuUsage(sinceMark.cpu).system) / 1000,
          }),
    });
  } else if (command.cmd === "stop") {
    stopping = true;
    for (const c of clients) {
      c.call.cancel();
      c.client.close();
    }
    process.exit(0);
  }
});
