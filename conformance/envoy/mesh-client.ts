/**
 * The mesh client Pod's side of the Envoy engine's MESH mode: a process the
 * engine starts inside the client Pod's network namespace (`nsenter --net`,
 * a Node process cannot switch namespaces itself), which sends each request
 * it is given with the engine's own client (client.ts) over a real socket
 * from the Pod's address, so it leaves through the Pod's veth as a pod's
 * request does. JSON lines: `{id, target, request, extraHeaders}` (an HTTP
 * request) or `{id, target, grpc: {method, metadata}}` (a unary gRPC call
 * with grpc-js: plaintext HTTP/2 with prior knowledge, the Pod's only
 * address its source) in, `{id, answer}` out.
 */
import { createInterface } from "node:readline";
import type { TrafficRequest } from "../checks/traffic.ts";
import { grpcOverWire, sendOverWire, type WireAnswer, type WireTarget } from "./client.ts";

export type MeshSend =
  | {
      readonly id: number;
      readonly target: WireTarget;
      readonly request: TrafficRequest;
      readonly extraHeaders: Readonly<Record<string, string>>;
    }
  | {
      readonly id: number;
      readonly target: WireTarget;
      readonly grpc: { readonly method: string; readonly metadata: Readonly<Record<string, string>> };
    };

/** An HTTP request's answer, or a gRPC call's status. */
export type MeshReply =
  | WireAnswer
  | { readonly kind: "grpc"; readonly code: number; readonly message: string };

export interface MeshAnswer {
  readonly id: number;
  readonly answer: MeshReply;
}

function answerOf(job: MeshSend): Promise<MeshReply> {
  if ("grpc" in job)
    return grpcOverWire(
      `${job.target.address}:${job.target.port}`,
      job.target.authority,
      job.grpc.method,
      job.grpc.metadata,
    ).then((r) => ({ kind: "grpc", ...r }));
  return sendOverWire(job.target, job.request, job.extraHeaders);
}

if (import.meta.main) {
  createInterface({ input: process.stdin }).on("line", (line) => {
    const job = JSON.parse(line) as MeshSend;
    void answerOf(job).then(
      (answer) => process.stdout.write(`${JSON.stringify({ id: job.id, answer } satisfies MeshAnswer)}\n`),
      (error: unknown) =>
        process.stdout.write(
          `${JSON.stringify({ id: job.id, answer: { kind: "failed", reason: String(error) } } satisfies MeshAnswer)}\n`,
        ),
    );
  });
}
