import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["src/**/*.test.ts", "test/**/*.test.ts", "conformance/**/*.test.ts", "scripts/**/*.test.ts"],
    // Generous: the suite must pass on a loaded 2-core machine (several suites at once). A timeout
    // only bounds a hang; every wait inside a test polls for its condition.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: "forks",
    globalSetup: ["test/support/global-setup.ts"],
    // Tests that take the kernel (network namespaces, BPF, TPROXY) are serialized by their own lock.
  },
});
