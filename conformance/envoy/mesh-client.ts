/**
 * The mesh client Pod's side of the Envoy engine's MESH mode: a process the
 * engine starts inside the client Pod's network namespace (`nsenter --net`,
 * a Node process cannot switch namespaces itself), which sends each request
 * it is given with the engine's own client (client.ts) over a real socket
 * from the Pod's address, so it leaves through the Pod's veth as a pod's
 * request does. JSON lines: `{id, target, request, extraHeaders}` in,
 * `{id, answer}` out.
 */
import { createInterface } from "node:readline";
import type { TrafficRequest } from "../checks/traffic.ts";
import { sendOverWire, type WireAnswer, type WireTarget } from "./client.ts";

export interface MeshSend {
  readonly id: number;
  readonly target: WireTarget;
  readonly request: TrafficRequest;
  readonly extraHeaders: Readonly<Record<string, string>>;
}

export interface MeshAnswer {
  readonly id: number;
  readonly answer: WireAnswer;
}

if (import.meta.main) {
  createInterface({ input: process.stdin }).on("line", (line) => {
    const job = JSON.parse(line) as MeshSend;
    void sendOverWire(job.target, job.request, job.extraHeaders).then(
      (answer) => process.stdout.write(`${JSON.stringify({ id: job.id, answer } satisfies MeshAnswer)}\n`),
      (error: unknown) =>
        process.stdout.write(
          `${JSON.stringify({ id: job.id, answer: { kind: "failed", reason: String(error) } } satisfies MeshAnswer)}\n`,
        ),
    );
  });
}
