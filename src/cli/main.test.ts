import { describe, expect, it } from "vitest";
import type { CommandIO } from "./command.ts";
import { COMMANDS } from "./commands/index.ts";
import { main } from "./main.ts";

function capture(): CommandIO & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, stdout: (t) => out.push(t), stderr: (t) => err.push(t), env: {} };
}

describe("strait CLI", () => {
  it("lists every command in --help", async () => {
    const io = capture();
    expect(await main(["--help"], io)).toBe(0);
    for (const c of COMMANDS) expect(io.out.join("")).toContain(`  ${c.name}`);
  });

  it("lists each command under the name and summary the command itself has", async () => {
    for (const entry of COMMANDS) {
      const command = await entry.load();
      expect({ name: command.name, summary: command.summary }).toEqual({
        name: entry.name,
        summary: entry.summary,
      });
    }
  }, 120_000); // loads every command from source: slow on a loaded machine

  it("gives each command a help text with a usage line", async () => {
    for (const c of COMMANDS) {
      const io = capture();
      expect(await main([c.name, "--help"], io)).toBe(0);
      expect(io.out.join("")).toMatch(new RegExp(`^Usage: strait ${c.name}`));
    }
  });

  it("exits 2 on an unknown command or flag", async () => {
    const a = capture();
    expect(await main(["frobnicate"], a)).toBe(2);
    expect(a.err.join("")).toContain('unknown command "frobnicate"');
    const b = capture();
    expect(await main(["version", "--bogus"], b)).toBe(2);
    expect(b.err.join("")).toContain("--bogus");
    const c = capture();
    expect(await main([], c)).toBe(2);
  });

  it("prints the version as JSON", async () => {
    const io = capture();
    expect(await main(["version", "-o", "json"], io)).toBe(0);
    expect(JSON.parse(io.out.join(""))).toMatchObject({ gatewayAPI: "v1.6.1" });
  });
});
