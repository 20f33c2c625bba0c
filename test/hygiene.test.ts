/**
 * Test hygiene, checked on the test sources themselves: a test never binds a
 * fixed host port (two runs, or a developer's `make run`, would collide), and
 * every `strait run` a test starts gets its xDS and operations ports from the
 * kernel (`127.0.0.1:0`, or a free port it asked for and keeps across a
 * restart), since the defaults (18000, 9090) are fixed.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, expect, it } from "vitest";
import { REPO } from "./support/strait-process.ts";

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "node_modules" ? [] : sources(path);
    return e.name.endsWith(".ts") ? [path] : [];
  });
}

const TEST_SOURCES = [...sources(join(REPO, "test")), ...sources(join(REPO, "src"))].filter(
  (f) => (f.endsWith(".test.ts") || f.includes("/test/support/")) && !f.endsWith("/hygiene.test.ts"),
);

describe("test hygiene", () => {
  it("finds the test sources", () => expect(TEST_SOURCES.length).toBeGreaterThan(50));

  it("no test listens on a fixed host port", () => {
    // `.listen(8080` / `.listen({ port: 8080` / `bindAsync("127.0.0.1:8080"`; ports inside a
    // network namespace (the pod helpers' `listenTcp`) belong to that namespace and are fine.
    const fixed = /\.listen\(\s*(?:\{\s*port:\s*)?[1-9]\d*|bindAsync\(\s*["'`][^"'`]*:[1-9]\d*["'`]/;
    const offenders = TEST_SOURCES.flatMap((f) =>
      readFileSync(f, "utf8")
        .split("\n")
        .map((line, i) => ({ line, at: `${relative(REPO, f)}:${i + 1}` }))
        .filter(({ line }) => fixed.test(line))
        .map(({ at, line }) => `${at}: ${line.trim()}`),
    );
    expect(offenders).toEqual([]);
  });

  it("every strait run a test starts takes free xDS and operations ports", () => {
    const offenders: string[] = [];
    for (const f of TEST_SOURCES) {
      const text = readFileSync(f, "utf8");
      // The argument list of each `strait run` (an array literal starting with "run").
      for (const m of text.matchAll(/\[\s*"run",([\s\S]*?)\]\s*[,)]/g)) {
        const args = m[1] ?? "";
        if (args.includes("--kubeconfig") === false && args.includes('"-f"') === false) continue;
        for (const flag of ["--xds-address", "--http-address"]) {
          const value = new RegExp(`"${flag}",\\s*["\`]([^"\`]*)["\`]`).exec(args)?.[1];
          // `127.0.0.1:${port}`: a port the test got from freePort() and reuses across restarts.
          if (value === undefined || !(value.endsWith(":0") || /:\$\{[^}]+\}$/.test(value)))
            offenders.push(
              `${relative(REPO, f)}: strait run without ${flag} 127.0.0.1:0 (${value ?? "default"})`,
            );
        }
      }
      // runArgs(dir, { xdsAddress }) (test/support/strait-process.ts): the address it is given.
      for (const m of text.matchAll(/runArgs\([^)]*xdsAddress:\s*(`[^`]*`|"[^"]*"|[^,}\s]+)/g)) {
        const value = (m[1] ?? "").trim();
        if (!/:0["`]$/.test(value) && !/:\$\{[^}]+\}`$/.test(value))
          offenders.push(`${relative(REPO, f)}: runArgs with xdsAddress ${value}`);
      }
    }
    expect(offenders).toEqual([]);
  });
});
