/** The Gateway API's header modifier (set, add, remove) as a model mutation. */
import type { HeaderMutation } from "../model/gateway.ts";
import { headerNameProblem, headerValueProblem } from "../net/http-header.ts";

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

/**
 * The Host header cannot be a header mutation in Envoy: it refuses the whole
 * RouteConfiguration (":-prefixed or host headers may not be modified"),
 * taking every route of the listener down. Setting it is a host rewrite
 * (`host_rewrite_literal`), which is what the filter means; adding a second
 * Host or removing it has no meaning for an upstream request and is refused.
 */
export function withoutHostHeader(m: HeaderMutation): {
  readonly mutation: HeaderMutation;
  readonly host?: string;
  readonly invalid?: string;
} {
  const isHost = (name: string) => name.toLowerCase() === "host";
  if (m.add.some((h) => isHost(h.name)) || m.remove.some(isHost))
    return {
      mutation: m,
      invalid: "RequestHeaderModifier cannot add or remove the Host header (set it instead)",
    };
  const host = m.set.filter((h) => isHost(h.name)).at(-1)?.value;
  if (host === undefined) return { mutation: m };
  return { mutation: { ...m, set: m.set.filter((h) => !isHost(h.name)) }, host };
}

/** A response header mutation touching Host: Envoy refuses it too (same check), so the rule is refused. */
export function responseHostProblem(m: HeaderMutation): string | undefined {
  const isHost = (name: string) => name.toLowerCase() === "host";
  return m.set.some((h) => isHost(h.name)) || m.add.some((h) => isHost(h.name)) || m.remove.some(isHost)
    ? "ResponseHeaderModifier cannot change a Host header (Envoy refuses it)"
    : undefined;
}

/**
 * Why Envoy would refuse this mutation (a CR or LF in a value, say: the
 * Gateway API schema allows any value up to 4096 characters), or undefined.
 * `what` names the filter in the message.
 */
export function mutationProblem(m: HeaderMutation, what: string): string | undefined {
  for (const h of [...m.set, ...m.add]) {
    const problem = headerNameProblem(h.name) ?? headerValueProblem(h.value);
    if (problem !== undefined) return `${what} header ${JSON.stringify(h.name)}: ${problem}`;
  }
  for (const name of m.remove) {
    const problem = headerNameProblem(name);
    if (problem !== undefined) return `${what} remove: ${problem}`;
  }
  return undefined;
}
