/**
 * The identities of one pass and the questions policies ask of them: which
 * identities a selector selects (Cilium's SelectorCache, computed once per
 * selector and pass), and which rules select an identity.
 */
import type { Identity } from "./identities.ts";
import type { PolicyRule } from "./rule.ts";
import { type Selector, selectorMatches } from "./selector.ts";

export class IdentityIndex {
  readonly identities: readonly Identity[];
  readonly byId: ReadonlyMap<number, Identity>;
  readonly #selections = new Map<string, readonly number[]>();

  constructor(identities: Iterable<Identity>) {
    this.identities = [...identities].sort((a, b) => a.id - b.id);
    this.byId = new Map(this.identities.map((i) => [i.id, i]));
  }

  /** Ids of the identities the selector selects, ascending. */
  select(selector: Selector): readonly number[] {
    let ids = this.#selections.get(selector.key);
    if (ids === undefined) {
      ids = this.identities.filter((i) => selectorMatches(selector, i.labels, i.cidr)).map((i) => i.id);
      this.#selections.set(selector.key, ids);
    }
    return ids;
  }

  selects(selector: Selector, id: number): boolean {
    const identity = this.byId.get(id);
    return identity !== undefined && selectorMatches(selector, identity.labels, identity.cidr);
  }
}

/**
 * Rules by the identities they apply to, computed lazily per identity: a
 * workload identity is selected by the rules whose endpointSelector matches
 * its labels.
 */
export class RuleIndex {
  readonly rules: readonly PolicyRule[];
  readonly #index: IdentityIndex;
  readonly #bySubject = new Map<string, PolicyRule[]>();
  readonly #byIdentity = new Map<number, readonly PolicyRule[]>();

  constructor(rules: readonly PolicyRule[], index: IdentityIndex) {
    this.rules = rules;
    this.#index = index;
    for (const r of rules) {
      const list = this.#bySubject.get(r.subject.key);
      if (list === undefined) this.#bySubject.set(r.subject.key, [r]);
      else list.push(r);
    }
  }

  selecting(identity: number): readonly PolicyRule[] {
    let rules = this.#byIdentity.get(identity);
    if (rules === undefined) {
      const out: PolicyRule[] = [];
      for (const list of this.#bySubject.values()) {
        const first = list[0];
        if (first !== undefined && this.#index.selects(first.subject, identity)) out.push(...list);
      }
      rules = out;
      this.#byIdentity.set(identity, rules);
    }
    return rules;
  }
}
