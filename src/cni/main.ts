/** Entry point of bin/strait-cni: stdin and environment in, result or error JSON out. */
import { runCni } from "./plugin.ts";

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return "";
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

const out = await runCni({ env: process.env, stdin: await readStdin() });
if (out.stdout !== "") process.stdout.write(`${out.stdout}\n`);
process.exitCode = out.exitCode;
