/**
 * A helper process that runs inside one network namespace (a "pod" or the
 * "node") and does network work on request: JSON lines on stdin, answers on
 * stdout. Tests start one per namespace with `nsenter --net=...`, since a
 * Node process cannot switch namespaces itself.
 *
 * Ops: listenTcp, listenUdp (echo servers that prefix replies with their tag),
 * tcpConnect (connect, send, await the echo), tcpOpen/tcpSend (a long-lived
 * connection), udpSend, listenTransparent (a TPROXY pass-through proxy),
 * listenHttp (answers `tag:METHOD /path`), httpRequest (one request, a new connection),
 * listenSink / sendBulk (a throughput sample: bytes one way, their count back).
 */
import { createSocket } from "node:dgram";
import { createServer as createHttpServer, request as httpRequest } from "node:http";
import { createServer, Socket } from "node:net";
import { createInterface } from "node:readline";
import { addon } from "../../src/datapath/native.ts";
import { fromProxyMark } from "../../src/datapath/reasons.ts";

type Request = { id: number; op: string; [k: string]: unknown };
const tag = process.argv[2] ?? "?";
const open = new Map<string, Socket>();

function reply(id: number, body: Record<string, unknown>) {
  process.stdout.write(`${JSON.stringify({ id, ...body })}\n`);
}

function event(body: Record<string, unknown>) {
  process.stdout.write(`${JSON.stringify({ id: 0, event: true, ...body })}\n`);
}

function awaitLine(socket: Socket, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = "";
    const done = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("error", onError);
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error("timeout"));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf("\n");
      if (i >= 0) {
        done();
        resolve(buf.slice(0, i));
      }
    };
    const onError = (e: Error) => {
      done();
      reject(e);
    };
    socket.on("data", onData);
    socket.on("error", onError);
  });
}

function percentiles(values: number[]): { p50: number; p99: number } {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;
  return { p50: at(0.5), p99: at(0.99) };
}

function connect(host: string, port: number, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = new Socket();
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("timeout"));
    }, timeoutMs);
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.connect(port, host, () => {
      clearTimeout(timer);
      resolve(s);
    });
  });
}

const handlers: Record<string, (r: Request) => Promise<Record<string, unknown>>> = {
  async listenHttp(r) {
    const server = createHttpServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "text/plain" });
        res.end(`${tag}:${req.method} ${req.url}`);
      });
    });
    await new Promise<void>((res) => server.listen(r.port as number, "0.0.0.0", res));
    return { ok: true };
  },
  httpRequest(r) {
    return new Promise((resolve) => {
      const req = httpRequest(
        {
          host: r.host as string,
          port: r.port as number,
          method: (r.method as string | undefined) ?? "GET",
          path: (r.path as string | undefined) ?? "/",
          headers: { ...((r.headers as Record<string, string> | undefined) ?? {}), connection: "close" },
          agent: false,
          timeout: (r.timeoutMs as number | undefined) ?? 2000,
        },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => {
            body += d;
          });
          res.on("end", () => resolve({ ok: true, status: res.statusCode, body }));
        },
      );
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", (e) => resolve({ ok: false, error: e.message }));
      req.end(r.body === undefined ? undefined : String(r.body));
    });
  },
  async listenTcp(r) {
    const server = createServer((c) => {
      c.on("error", () => undefined);
      let buf = "";
      c.on("data", (d) => {
        buf += d.toString();
        let i = buf.indexOf("\n");
        while (i >= 0) {
          c.write(`${tag}:${buf.slice(0, i)}\n`);
          buf = buf.slice(i + 1);
          i = buf.indexOf("\n");
        }
      });
    });
    await new Promise<void>((res) => server.listen(r.port as number, "0.0.0.0", res));
    return { ok: true };
  },
  async listenUdp(r) {
    const sock = createSocket("udp4");
    sock.on("message", (msg, from) => sock.send(`${tag}:${msg.toString()}`, from.port, from.address));
    await new Promise<void>((res) => sock.bind(r.port as number, "0.0.0.0", res));
    return { ok: true };
  },
  async tcpConnect(r) {
    try {
      const s = await connect(r.host as string, r.port as number, (r.timeoutMs as number) ?? 1000);
      s.write(`${r.message ?? "hello"}\n`);
      const line = await awaitLine(s, (r.timeoutMs as number) ?? 1000);
      s.destroy();
      return { ok: true, reply: line };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  },
  async tcpOpen(r) {
    try {
      const s = await connect(r.host as string, r.port as number, (r.timeoutMs as number) ?? 1000);
      s.on("error", () => undefined);
      open.set(r.name as string, s);
      return { ok: true, localPort: s.localPort };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  },
  async tcpSend(r) {
    const s = open.get(r.name as string);
    if (s === undefined) return { ok: false, error: "no such connection" };
    try {
      s.write(`${r.message ?? "again"}\n`);
      return { ok: true, reply: await awaitLine(s, (r.timeoutMs as number) ?? 1000) };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  },
  async udpSend(r) {
    const sock = createSocket("udp4");
    try {
      const reply = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("timeout")), (r.timeoutMs as number) ?? 1000);
        sock.on("message", (m) => {
          clearTimeout(timer);
          resolve(m.toString());
        });
        sock.send(String(r.message ?? "ping"), r.port as number, r.host as string);
      });
      return { ok: true, reply };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    } finally {
      sock.close();
    }
  },
  /**
   * Benchmark load: `concurrency` workers open a connection, send one line,
   * await the echo and close, for `durationMs`. Reports the count and the
   * per-connection latency percentiles (connect + request + response).
   */
  async loadTcp(r) {
    const end = Date.now() + (r.durationMs as number);
    const latencies: number[] = [];
    let errors = 0;
    const worker = async () => {
      while (Date.now() < end) {
        const t0 = performance.now();
        try {
          const s = await connect(r.host as string, r.port as number, 2000);
          s.write("x\n");
          await awaitLine(s, 2000);
          s.destroy();
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: r.concurrency as number }, worker));
    const seconds = (performance.now() - started) / 1000;
    return { ok: true, connections: latencies.length, errors, seconds, ...percentiles(latencies) };
  },
  /** A sink on `port`: counts what a connection sends until its end, then answers the count. */
  async listenSink(r) {
    const server = createServer((c) => {
      c.on("error", () => undefined);
      let n = 0;
      c.on("data", (d) => {
        n += d.length;
      });
      c.on("end", () => c.end(`${n}\n`));
    });
    await new Promise<void>((res) => server.listen(r.port as number, "0.0.0.0", res));
    return { ok: true };
  },
  /** Benchmark: `bytes` to a sink on one connection, half-closed, until it answers their count. */
  async sendBulk(r) {
    const total = r.bytes as number;
    const chunk = Buffer.alloc(256 * 1024, 0x61);
    const t0 = performance.now();
    try {
      const s = await connect(r.host as string, r.port as number, 2000);
      const answer = awaitLine(s, (r.timeoutMs as number) ?? 60_000);
      let sent = 0;
      while (sent < total) {
        const part = chunk.subarray(0, Math.min(chunk.length, total - sent));
        sent += part.length;
        if (!s.write(part)) await new Promise((res) => s.once("drain", res));
      }
      s.end();
      const received = Number(await answer);
      s.destroy();
      return { ok: received === total, received, seconds: (performance.now() - t0) / 1000 };
    } catch (e) {
      return { ok: false, error: (e as Error).message };
    }
  },
  /** Benchmark: `count` sequential requests on one connection; latency percentiles. */
  async pingPong(r) {
    const s = await connect(r.host as string, r.port as number, 2000);
    const latencies: number[] = [];
    for (let i = 0; i < (r.count as number); i++) {
      const t0 = performance.now();
      s.write("p\n");
      await awaitLine(s, 2000);
      latencies.push(performance.now() - t0);
    }
    s.destroy();
    return { ok: true, ...percentiles(latencies) };
  },
  /**
   * A transparent pass-through proxy on 127.0.0.1:<port> (IP_TRANSPARENT, as
   * Envoy's listeners are): an accepted connection's local address is the
   * original destination; the upstream connection to it carries the
   * from-proxy mark with the client's identity.
   */
  async listenTransparent(r) {
    const server = createServer((client) => {
      client.on("error", () => undefined);
      const dst = client.localAddress ?? "";
      const dport = client.localPort ?? 0;
      event({
        proxied: true,
        from: `${client.remoteAddress}:${client.remotePort}`,
        originalDestination: `${dst}:${dport}`,
      });
      client.pause();
      const fd = addon().connectMarked(dst, dport, fromProxyMark(r.identity as number), 2000);
      if (fd < 0) {
        event({ upstreamError: fd });
        client.destroy();
        return;
      }
      const upstream = new Socket({ fd, readable: true, writable: true });
      upstream.on("error", () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
      client.resume();
    });
    await new Promise<void>((res) => server.listen(r.port as number, "127.0.0.1", res));
    const handle = (server as unknown as { _handle: { fd: number } })._handle;
    const SOL_IP = 0;
    const IP_TRANSPARENT = 19;
    const rc = addon().setSockOptInt(handle.fd, SOL_IP, IP_TRANSPARENT, 1);
    return rc === 0 ? { ok: true } : { ok: false, error: `IP_TRANSPARENT: ${rc}` };
  },
};

createInterface({ input: process.stdin }).on("line", (line) => {
  const r = JSON.parse(line) as Request;
  const h = handlers[r.op];
  if (h === undefined) {
    reply(r.id, { ok: false, error: `unknown op ${r.op}` });
    return;
  }
  h(r).then(
    (body) => reply(r.id, body),
    (e: unknown) => reply(r.id, { ok: false, error: String(e) }),
  );
});
process.stdin.on("end", () => process.exit(0));
