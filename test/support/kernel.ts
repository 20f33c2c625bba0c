/**
 * Whether this process may run the kernel tests (root, and the native parts
 * built). CI runs as root after scripts/setup.sh built them; a developer
 * without root sees these tests skipped with this reason, not failed. As
 * root, missing native parts are a broken set-up, not a reason to skip: the
 * tests fail loudly instead, so CI can never pass without running them.
 */
import { existsSync } from "node:fs";
import { ADDON_PATH, LXC_OBJECT_PATH } from "../../src/datapath/native.ts";

export const nativeBuilt = existsSync(ADDON_PATH) && existsSync(LXC_OBJECT_PATH);

const isRoot = process.getuid?.() === 0;

if (isRoot && !nativeBuilt) {
  throw new Error(
    `running as root but the native parts are missing (${ADDON_PATH}, ${LXC_OBJECT_PATH}): run scripts/setup.sh`,
  );
}

export const KERNEL_SKIP_REASON = isRoot ? undefined : "needs root (BPF, network namespaces)";

export const canRunKernelTests = KERNEL_SKIP_REASON === undefined;
