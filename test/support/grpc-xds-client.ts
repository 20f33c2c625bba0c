/**
 * A proxyless gRPC client in its own process: @grpc/grpc-js-xds (the real
 * xDS client) reads its bootstrap file (GRPC_XDS_BOOTSTRAP), resolves the
 * `xds:///` target given as the first argument through strait, and calls
 * /strait.test.Echo/Who every INTERVAL ms, printing one JSON line per call
 * (`{"at":…,"server":"a"}` or `{"at":…,"error":"…"}`). Run apart from the
 * test so grpc-js-xds's process-wide registrations stay out of it.
 */
import { Client, credentials, type ServiceError } from "@grpc/grpc-js";
import { register } from "@grpc/grpc-js-xds";

register();
const target = process.argv[2] ?? "";
const intervalMs = Number(process.argv[3] ?? "20");
const client = new Client(target, credentials.createInsecure());

function call(): void {
  client.makeUnaryRequest(
    "/strait.test.Echo/Who",
    (b: Buffer) => b,
    (b: Buffer) => b,
    Buffer.alloc(0),
    { deadline: Date.now() + 2000 },
    (error: ServiceError | null, value?: Buffer) => {
      const line =
        error === null
          ? { at: Date.now(), server: value?.toString() ?? "" }
          : { at: Date.now(), error: error.message };
      process.stdout.write(`${JSON.stringify(line)}\n`);
      setTimeout(call, intervalMs);
    },
  );
}
call();
process.on("SIGTERM", () => {
  client.close();
  process.exit(0);
});
