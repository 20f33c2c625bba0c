/**
 * A copy of examples/quickstart on addresses and ports of the test's own, so
 * a test can run the demo (echo backends, strait, its managed Envoy) while
 * another test, or a developer's `make run`, runs it too.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { REPO } from "./strait-process.ts";

/** A TCP port nobody listens on right now (bound and released on 127.0.0.1). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return address.port;
}

export interface QuickstartCopy {
  readonly dir: string;
  /** The Gateway's address and listener port. */
  readonly gateway: { readonly address: string; readonly port: number };
}

export async function copyQuickstart(): Promise<QuickstartCopy> {
  const dir = mkdtempSync(join(tmpdir(), "strait-quickstart-"));
  cpSync(join(REPO, "examples/quickstart"), dir, { recursive: true });
  const third = 10 + Math.floor(Math.random() * 200);
  const gateway = { address: `127.0.1.${2 + Math.floor(Math.random() * 250)}`, port: await freePort() };
  const backendPort = await freePort();
  const gw = join(dir, "gateway.yaml");
  writeFileSync(
    gw,
    readFileSync(gw, "utf8")
      .replace("value: 127.0.1.1", `value: ${gateway.address}`)
      .replace("port: 8080", `port: ${gateway.port}`),
  );
  const app = join(dir, "app.yaml");
  writeFileSync(
    app,
    readFileSync(app, "utf8")
      .replaceAll("127.0.2.", `127.${third}.2.`)
      .replaceAll("8080", String(backendPort)),
  );
  return { dir, gateway };
}

/** The example's echo backends for a folder; resolves once every one listens. */
export async function startEchoBackends(dir: string): Promise<ChildProcess> {
  const child = spawn(
    join(REPO, "node_modules/.bin/node"),
    [join(REPO, "examples/quickstart/echo-backends.ts"), dir],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  const expected = (readFileSync(join(dir, "app.yaml"), "utf8").match(/addresses: \["127\./g) ?? []).length;
  let up = 0;
  await new Promise<void>((resolve, reject) => {
    child.on("exit", (code) => reject(new Error(`echo backends exited (${code})`)));
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on("line", (line) => {
      if (line.startsWith("echo backend ") && ++up === expected) resolve();
    });
  });
  return child;
}
