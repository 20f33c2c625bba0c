/**
 * Whether this process may run the kernel tests (root, and the native parts
 * built). CI runs as root after scripts/setup.sh built them; a developer
 * without root sees these tests skipped with this reason, not failed.
 */
import { existsSync } from "node:fs";
import { ADDON_PATH, LXC_OBJECT_PATH } from "../../src/datapath/native.ts";

export const KERNEL_SKIP_REASON =
  process.getuid?.() !== 0
    ? "needs root (BPF, network namespaces)"
    : !existsSync(ADDON_PATH) || !existsSync(LXC_OBJECT_PATH)
      ? "native parts not built: run node scripts/build-native.ts"
      : undefined;

export const canRunKernelTests = KERNEL_SKIP_REASON === undefined;
