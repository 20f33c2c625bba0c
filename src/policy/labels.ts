/**
 * Cilium's labels: `source:key=value`. A source says where a label comes
 * from (`k8s` for Kubernetes pod and namespace labels, `reserved` for the
 * reserved identities, `cidr` for CIDR identities); a selector key without a
 * source (`app`) or with `any:` matches a label of that key from any source.
 * A set of labels is what an identity stands for.
 */

export const SOURCE = {
  k8s: "k8s",
  reserved: "reserved",
  cidr: "cidr",
  any: "any",
} as const;

export interface Label {
  readonly source: string;
  readonly key: string;
  readonly value: string;
}

/** `k8s:app=web`, `reserved:host` (an empty value is left out, as Cilium prints it). */
export function formatLabel(label: Label): string {
  return label.value === "" ? `${label.source}:${label.key}` : `${label.source}:${label.key}=${label.value}`;
}

/**
 * The source and key of a selector key, as Cilium reads them: the part
 * before the first `:` is the source; no `:` means any source. (Kubernetes
 * label keys cannot contain `:`, so nothing is lost.)
 */
export function parseSelectorKey(text: string): { source: string; key: string } {
  const colon = text.indexOf(":");
  if (colon < 0) return { source: SOURCE.any, key: text };
  return { source: text.slice(0, colon), key: text.slice(colon + 1) };
}

/** A label given as `source:key=value` or `source:key` (the source is required). */
export function parseLabel(text: string): Label {
  const { source, key: rest } = parseSelectorKey(text);
  const eq = rest.indexOf("=");
  return eq < 0
    ? { source, key: rest, value: "" }
    : { source, key: rest.slice(0, eq), value: rest.slice(eq + 1) };
}

function compareLabels(a: Label, b: Label): number {
  const x = formatLabel(a);
  const y = formatLabel(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * An immutable, sorted set of labels with look-up by key. Its `id` (the
 * sorted labels joined) is what two label sets are compared by: equal sets,
 * one identity.
 */
export class LabelSet {
  readonly labels: readonly Label[];
  readonly id: string;
  readonly #byKey = new Map<string, Label[]>();

  constructor(labels: readonly Label[]) {
    const unique = new Map<string, Label>();
    for (const l of labels) unique.set(`${l.source}:${l.key}`, l);
    this.labels = [...unique.values()].sort(compareLabels);
    this.id = this.labels.map(formatLabel).join(";");
    for (const l of this.labels) {
      const list = this.#byKey.get(l.key);
      if (list === undefined) this.#byKey.set(l.key, [l]);
      else list.push(l);
    }
  }

  /** The labels of `key` whose source matches (`any` matches every source). */
  get(source: string, key: string): readonly Label[] {
    const list = this.#byKey.get(key) ?? [];
    return source === SOURCE.any ? list : list.filter((l) => l.source === source);
  }

  /** Labels of one source (e.g. every `cidr` label). */
  ofSource(source: string): readonly Label[] {
    return this.labels.filter((l) => l.source === source);
  }

  strings(): string[] {
    return this.labels.map(formatLabel);
  }
}
