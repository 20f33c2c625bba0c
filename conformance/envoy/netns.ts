/**
 * The Envoy engine runs the whole runner in a network namespace of its own
 * (a user namespace too, so no privilege is needed where unprivileged user
 * namespaces are allowed): there the Gateways' addresses and ports (80, 443,
 * 8080 on 127.0.1.x) are free whatever else runs on the machine, and the echo
 * Pods' addresses (10.244.0.0/17, conformance/cluster.ts) are local, so each
 * echo backend listens on its own Pod's address. As root it makes no user
 * namespace: the MESH mode loads and attaches BPF programs, which needs the
 * real CAP_BPF a user namespace's root does not have (mesh-pods.ts).
 */
import { spawnSync } from "node:child_process";

const MARK = "STRAIT_CONFORMANCE_NETNS";
/**
 * The echo Pods' part of the Pod network (the cluster stand-in allocates
 * them from 10.244.0.1 up): local in the runner's namespace. The mesh client
 * Pods (10.244.255.0/24) are outside it, behind their veths.
 */
export const ECHO_POD_NETWORK = "10.244.0.0/17";

export function inOwnNetwork(): boolean {
  return process.env[MARK] === "1";
}

/** Runs this script again, with the same arguments, in a new network namespace; returns its exit code. */
export function rerunInOwnNetwork(script: string, args: readonly string[]): number {
  const setup = `ip link set lo up && ip route add local ${ECHO_POD_NETWORK} dev lo && exec "$@"`;
  const result = spawnSync(
    "unshare",
    [
      ...(process.getuid?.() === 0 ? [] : ["--map-root-user"]),
      "--net",
      "--",
      "sh",
      "-c",
      setup,
      "sh",
      process.execPath,
      ...process.execArgv,
      script,
      ...args,
    ],
    { stdio: "inherit", env: { ...process.env, [MARK]: "1" } },
  );
  if (result.error !== undefined)
    throw new Error(
      `cannot start the runner in a network namespace of its own (unshare): ${result.error.message}`,
    );
  return result.status ?? 1;
}
