/** The Gateway API's header modifier (set, add, remove) as a model mutation. */
import type { HeaderMutation } from "../model/gateway.ts";

interface HeaderModifierSpec {
  set?: { name: string; value: string }[];
  add?: { name: string; value: string }[];
  remove?: string[];
}

export const NO_HEADER_CHANGES: HeaderMutation = { set: [], add: [], remove: [] };

export function headerMutation(spec: unknown): HeaderMutation {
  const s = (spec ?? {}) as HeaderModifierSpec;
  return {
    set: (s.set ?? []).map((h) => ({ name: h.name, value: h.value })),
    add: (s.add ?? []).map((h) => ({ name: h.name, value: h.value })),
    remove: [...(s.remove ?? [])],
  };
}

/** Concatenates mutations in order (later filters apply after earlier ones). */
export function mergeMutations(a: HeaderMutation, b: HeaderMutation): HeaderMutation {
  return { set: [...a.set, ...b.set], add: [...a.add, ...b.add], remove: [...a.remove, ...b.remove] };
}

export function isEmptyMutation(m: HeaderMutation): boolean {
  return m.set.length === 0 && m.add.length === 0 && m.remove.length === 0;
}
