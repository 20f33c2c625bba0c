/**
 * Bundles the `strait` command into build/cli/ with esbuild, so that bin/strait starts
 * like a native tool: one ESM chunk per lazily loaded command instead of ~1,500 modules
 * to resolve, read and type-strip (the sources run as they are otherwise; see bin/strait).
 *
 * - Files are read where they are in the checkout: every `import.meta.dirname` in src/
 *   is rewritten to the same folder as seen from build/cli/ (protos, package.json, the
 *   Envoy binary, the BPF objects and the libbpf addon stay where they are).
 * - Packages that find their own files at run time (worker scripts, .wasm, .proto) or
 *   load native code stay external: Node resolves them from node_modules as before.
 *   Only the pure-JavaScript packages on the one-pass commands' path are bundled
 *   (yaml, the kubernetes-models schemas and their validators, ajv, protobufjs).
 *
 * Usage: node scripts/build-cli.ts   (run by scripts/setup.sh; about a second)
 */
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative } from "node:path";
import { build, type Plugin } from "esbuild";

const ROOT = join(import.meta.dirname, "..");
/** Where bin/strait looks for the bundle; its main.js is the entry point. */
export const CLI_BUNDLE_DIR = join(ROOT, "build/cli");

/** Packages resolved by Node at run time (they read files beside themselves or load addons). */
const EXTERNAL = [
  "@grpc/*",
  "@kubernetes/client-node",
  "fastify",
  "@fastify/*",
  "pino",
  "pino-*",
  "thread-stream",
  "prom-client",
  "re2-wasm",
  "undici",
  "esbuild",
];

/** `import.meta.dirname` in a source file → the same folder, from the chunk's folder. */
function dirnameRewrite(out: string): Plugin {
  return {
    name: "strait-dirname",
    setup(b) {
      b.onLoad({ filter: /[/\\]src[/\\].*\.ts$/ }, (args) => {
        const text = readFileSync(args.path, "utf8");
        if (!text.includes("import.meta.dirname")) return { contents: text, loader: "ts" };
        const rel = relative(out, dirname(args.path)).split("\\").join("/");
        return {
          contents: text.replaceAll(
            "import.meta.dirname",
            `__straitJoin(import.meta.dirname, ${JSON.stringify(rel)})`,
          ),
          loader: "ts",
        };
      });
    },
  };
}

/** Builds the bundle into `out` (default build/cli/); main.js is written last, as bin/strait's stamp. */
export async function buildCli(out = CLI_BUNDLE_DIR): Promise<void> {
  const staging = `${out}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  await build({
    entryPoints: [join(ROOT, "src/cli/main.ts")],
    outdir: staging,
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node22",
    external: EXTERNAL,
    // Bundled CommonJS packages call require(); chunks are ESM, so give them one.
    banner: {
      js: [
        'import { createRequire as __straitCreateRequire } from "node:module";',
        'import { join as __straitJoin } from "node:path";',
        "const require = __straitCreateRequire(import.meta.url);",
      ].join("\n"),
    },
    // uri-js asks for the userland punycode package; esbuild would take Node's deprecated builtin.
    alias: { punycode: "punycode/punycode.js" },
    plugins: [dirnameRewrite(out)],
    logLevel: "warning",
    legalComments: "none",
    sourcemap: "linked",
  });
  // Swap in whole: a concurrent bin/strait sees the old bundle or the new one, not a mix.
  rmSync(out, { recursive: true, force: true });
  renameSync(staging, out);
  // Rewrite the entry point after the swap so its mtime (bin/strait's stamp) is the build's end.
  const entry = join(out, "main.js");
  writeFileSync(entry, readFileSync(entry));
}

if (import.meta.main) await buildCli();
