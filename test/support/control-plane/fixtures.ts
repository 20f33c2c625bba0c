/**
 * Where the Go fixtures are: scripts/build-fixtures.sh builds them once per
 * version into a cache outside the clone and prints their folders; on a
 * second call it only checks the stamps (a second or two).
 */
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { REPO } from "../strait-process.ts";

export type FixtureName = "etcd" | "kube" | "helm" | "gateway-api";

export interface FixtureBinaries {
  readonly etcd: string;
  readonly kubeApiserver: string;
  readonly kubeControllerManager: string;
  readonly helm: string;
  readonly echoBasic: string;
  readonly conformanceTest: string;
}

const BINARIES: { readonly [K in keyof FixtureBinaries]: readonly [FixtureName, string] } = {
  etcd: ["etcd", "etcd"],
  kubeApiserver: ["kube", "kube-apiserver"],
  kubeControllerManager: ["kube", "kube-controller-manager"],
  helm: ["helm", "helm"],
  echoBasic: ["gateway-api", "echo-basic"],
  conformanceTest: ["gateway-api", "conformance.test"],
};

/** Builds (when not cached) and locates the fixtures named; a build failure throws with its output. */
export function fixtureDirs(names: readonly FixtureName[]): ReadonlyMap<FixtureName, string> {
  const out = execFileSync(join(REPO, "scripts/build-fixtures.sh"), ["--print", ...names], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    // A cold build of kube-apiserver takes minutes on two cores.
    timeout: 60 * 60_000,
  });
  const dirs = new Map<FixtureName, string>();
  for (const line of out.trim().split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) dirs.set(line.slice(0, at) as FixtureName, line.slice(at + 1));
  }
  return dirs;
}

let cached: FixtureBinaries | undefined;

/** Every fixture binary, built when needed. */
export function fixtureBinaries(): FixtureBinaries {
  if (cached !== undefined) return cached;
  const dirs = fixtureDirs(["etcd", "kube", "helm", "gateway-api"]);
  const entries = Object.entries(BINARIES).map(([key, [fixture, file]]) => {
    const dir = dirs.get(fixture);
    if (dir === undefined) throw new Error(`scripts/build-fixtures.sh printed no folder for ${fixture}`);
    return [key, join(dir, file)] as const;
  });
  cached = Object.fromEntries(entries) as unknown as FixtureBinaries;
  return cached;
}
