import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { type FileScanResult, FileSource } from "./file-source.ts";
import { ResourceStore, type StoreChange } from "./store.ts";

function service(name: string, port: number): string {
  return `apiVersion: v1\nkind: Service\nmetadata: { name: ${name}, namespace: app }\nspec: { ports: [{ port: ${port} }] }\n`;
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sources: FileSource[] = [];
afterEach(() => {
  for (const s of sources.splice(0)) s.stop();
});

async function startSource(dir: string, options: { debounceMs?: number; maxDelayMs?: number } = {}) {
  const store = new ResourceStore();
  const changes: StoreChange[] = [];
  const scans: FileScanResult[] = [];
  store.subscribe((c) => changes.push(c));
  const source = new FileSource(dir, store, { debounceMs: 10, ...options, onScan: (r) => scans.push(r) });
  sources.push(source);
  await source.start();
  return { store, changes, scans, source };
}

describe("FileSource", () => {
  it("reads a folder with a symlink loop, a folder link to itself and a second link to a file: each real file once, the rest served, edits applied", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-files-"));
    writeFileSync(join(dir, "a.yaml"), service("a", 80));
    mkdirSync(join(dir, "sub"));
    writeFileSync(join(dir, "sub", "b.yaml"), service("b", 80));
    symlinkSync("loop.yaml", join(dir, "loop.yaml"));
    symlinkSync(".", join(dir, "sub", "again"));
    symlinkSync("..", join(dir, "sub", "up"));
    symlinkSync("a.yaml", join(dir, "z-same.yaml"));
    const { store, scans } = await startSource(dir);
    const first = scans[0];
    expect(first?.files).toBe(2);
    expect(
      store
        .list("Service")
        .map((s) => s.metadata.name)
        .sort(),
    ).toEqual(["a", "b"]);
    const warnings = (first?.diagnostics ?? []).map(
      (d) => `${d.severity} ${d.file.slice(dir.length)}: ${d.message}`,
    );
    expect(warnings).toHaveLength(4);
    expect(warnings.find((w) => w.includes("/loop.yaml"))).toMatch(/^warning .*cannot be resolved: ELOOP/);
    expect(warnings.find((w) => w.includes("/sub/again"))).toMatch(/already read/);
    expect(warnings.find((w) => w.includes("/z-same.yaml"))).toMatch(/the same file as .*a\.yaml, read once/);
    writeFileSync(join(dir, "sub", "b.yaml"), service("b", 81));
    await until(
      () => (store.get("Service", "app", "b")?.spec?.ports?.[0]?.port as number | undefined) === 81,
    );
  });

  it("loads a folder, then applies edits, new files and deletions", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-files-"));
    writeFileSync(join(dir, "a.yaml"), service("a", 80));
    const { store, changes } = await startSource(dir);
    expect(store.get("Service", "app", "a")).toBeDefined();

    writeFileSync(join(dir, "a.yaml"), service("a", 8080));
    await until(() => (store.get("Service", "app", "a")?.spec?.ports?.[0]?.port ?? 0) === 8080);

    writeFileSync(join(dir, "b.yml"), service("b", 81));
    await until(() => store.get("Service", "app", "b") !== undefined);

    rmSync(join(dir, "a.yaml"));
    await until(() => store.get("Service", "app", "a") === undefined);
    expect(store.get("Service", "app", "b")).toBeDefined();
    expect(changes.map((c) => `${c.type} ${c.key.name}`)).toEqual([
      "upsert a",
      "upsert a",
      "upsert b",
      "delete a",
    ]);
  });

  it("reads a folder that keeps changing, without waiting for a quiet moment", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-files-"));
    writeFileSync(join(dir, "a.yaml"), service("a", 1));
    const { store } = await startSource(dir, { debounceMs: 100, maxDelayMs: 200 });
    // An edit every 20 ms for 1.5 s: a debounce of 100 ms alone would never fire.
    let seenWhileWriting = false;
    for (let port = 2; port < 75; port++) {
      writeFileSync(join(dir, "a.yaml"), service("a", port));
      await new Promise((r) => setTimeout(r, 20));
      if ((store.get("Service", "app", "a")?.spec?.ports?.[0]?.port ?? 1) > 1) seenWhileWriting = true;
    }
    expect(seenWhileWriting).toBe(true);
    await until(() => store.get("Service", "app", "a")?.spec?.ports?.[0]?.port === 74);
  });

  it("follows an editor's write-then-rename and an object moving between files", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-files-"));
    writeFileSync(join(dir, "one.yaml"), service("moving", 80));
    const { store, changes } = await startSource(dir);
    writeFileSync(join(dir, ".two.yaml.swp"), service("moving", 80));
    renameSync(join(dir, ".two.yaml.swp"), join(dir, "two.yaml"));
    rmSync(join(dir, "one.yaml"));
    await new Promise((r) => setTimeout(r, 200));
    expect(store.get("Service", "app", "moving")).toBeDefined();
    // Same content from another file: no delete, no spurious update.
    expect(changes.map((c) => c.type)).toEqual(["upsert"]);
  });

  it("leaves an invalid object out, reports it, and keeps the others", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-files-"));
    writeFileSync(join(dir, "good.yaml"), service("good", 80));
    writeFileSync(join(dir, "bad.yaml"), service("bad", 80).replace("port: 80", "port: eighty"));
    writeFileSync(join(dir, "junk.json"), "{ nope");
    const { store, scans } = await startSource(dir);
    expect(store.get("Service", "app", "good")).toBeDefined();
    expect(store.get("Service", "app", "bad")).toBeUndefined();
    const diags = scans.at(-1)?.diagnostics ?? [];
    expect(diags.map((d) => `${d.file.slice(dir.length + 1)} ${d.path ?? ""}`).sort()).toEqual([
      "bad.yaml spec.ports[0].port",
      "junk.json ",
    ]);

    // Fixing the file brings the object in.
    writeFileSync(join(dir, "bad.yaml"), service("bad", 80));
    await until(() => store.get("Service", "app", "bad") !== undefined);
    expect(scans.at(-1)?.diagnostics.map((d) => d.file.slice(dir.length + 1))).toEqual(["junk.json"]);
  });

  it("an object that becomes invalid is removed, not kept stale", async () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-files-"));
    writeFileSync(join(dir, "s.yaml"), service("s", 80));
    const { store } = await startSource(dir);
    writeFileSync(join(dir, "s.yaml"), service("s", 80).replace("port: 80", "port: {}"));
    await until(() => store.get("Service", "app", "s") === undefined);
  });
});
