/**
 * Envoy's regex_rewrite: RE2 GlobalReplace of every match of the pattern in
 * the path, with `\N` back-references in the substitution.
 */
import { RE2 } from "re2-wasm";

const compiled = new Map<string, RE2>();

/** Replaces every match; `\0`..`\9` in the substitution are capture groups. */
export function fullMatchReplace(pattern: string, value: string, substitution: string): string {
  let re = compiled.get(pattern);
  if (re === undefined) {
    re = new RE2(pattern, "gu");
    if (compiled.size > 10_000) compiled.clear();
    compiled.set(pattern, re);
  }
  // Translate RE2's \N back-references into JavaScript's $N, escaping literal dollars.
  const js = substitution
    .replace(/\$/g, "$$$$")
    .replace(/\\(\d)/g, (_m, d: string) => (d === "0" ? "$&" : `$${d}`));
  re.lastIndex = 0;
  return value.replace(re as unknown as RegExp, js);
}
