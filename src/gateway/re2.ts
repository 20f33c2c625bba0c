/**
 * RE2 (re2-wasm), the engine Envoy runs regular expressions with, loaded on first
 * use: instantiating its WebAssembly takes a few hundred milliseconds, which a
 * command whose manifests hold no regular expression should not pay.
 */
import { createRequire } from "node:module";
import type { RE2 as RE2Class } from "re2-wasm";

let loaded: typeof RE2Class | undefined;

/** The RE2 class, loading re2-wasm on the first call. */
export function re2(): typeof RE2Class {
  loaded ??= (createRequire(import.meta.url)("re2-wasm") as { RE2: typeof RE2Class }).RE2;
  return loaded;
}
