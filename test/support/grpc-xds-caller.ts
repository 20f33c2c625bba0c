/**
 * A proxyless gRPC client in its own process that calls on request:
 * @grpc/grpc-js-xds resolves the `xds:///` target given as the first
 * argument through strait (bootstrap in GRPC_XDS_BOOTSTRAP). Each stdin line
 * `{"id":1,"path":"/strait.test.Echo/Who","metadata":{"x-canary":"yes"},"count":100}`
 * makes `count` unary calls, one after another, on one channel, and prints
 * `{"id":1,"servers":{"a":75,"b":25},"errors":{"14 UNAVAILABLE: …":0}}`
 * (servers by the name each answered with, errors by message).
 */
import { createInterface } from "node:readline";
import { Client, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import { register } from "@grpc/grpc-js-xds";

interface Request {
  readonly id: number;
  readonly path: string;
  readonly metadata?: Record<string, string>;
  readonly count: number;
}

register();
const client = new Client(process.argv[2] ?? "", credentials.createInsecure());

function call(path: string, metadata: Metadata): Promise<{ server?: string; error?: string }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.alloc(0),
      metadata,
      { deadline: Date.now() + 5000 },
      (error: ServiceError | null, value?: Buffer) =>
        resolve(error === null ? { server: value?.toString() ?? "" } : { error: error.message }),
    ),
  );
}

async function serve(request: Request): Promise<void> {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(request.metadata ?? {})) metadata.set(k, v);
  const servers: Record<string, number> = {};
  const errors: Record<string, number> = {};
  for (let i = 0; i < request.count; i++) {
    const r = await call(request.path, metadata);
    if (r.server !== undefined) servers[r.server] = (servers[r.server] ?? 0) + 1;
    else errors[r.error ?? ""] = (errors[r.error ?? ""] ?? 0) + 1;
  }
  process.stdout.write(`${JSON.stringify({ id: request.id, servers, errors })}\n`);
}

let queue = Promise.resolve();
createInterface({ input: process.stdin }).on("line", (line) => {
  const request = JSON.parse(line) as Request;
  queue = queue.then(() => serve(request));
});
process.stdin.on("end", () => {
  void queue.then(() => {
    client.close();
    process.exit(0);
  });
});
