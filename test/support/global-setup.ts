/**
 * vitest global set-up: mounts bpffs on /sys/fs/bpf (this machine boots
 * without it) once, before the test files start in parallel, so that two
 * files never race to mount it and stack one bpffs over the other's pins.
 */
import { canRunKernelTests } from "./kernel.ts";

export async function setup(): Promise<void> {
  if (!canRunKernelTests) return;
  const { ensureBpffs } = await import("../../src/datapath/bpf-object.ts");
  ensureBpffs("/sys/fs/bpf/strait-tests");
}

export async function teardown(): Promise<void> {
  // As a normal user the kernel tests are skipped and /sys/fs/bpf is not readable (EACCES,
  // which `force` does not ignore): there is nothing of ours to remove.
  if (!canRunKernelTests) return;
  const { rmSync } = await import("node:fs");
  rmSync("/sys/fs/bpf/strait-tests", { recursive: true, force: true });
}
