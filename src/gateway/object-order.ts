/**
 * The order the Gateway API resolves conflicts in: the oldest object wins,
 * and among objects of the same age the first by `namespace/name`. An object
 * without a creationTimestamp (a standalone manifest may lack one) counts as
 * the newest.
 */
interface Dated {
  readonly metadata: {
    readonly creationTimestamp?: string;
    readonly namespace?: string;
    readonly name: string;
  };
}

export function byAge(a: Dated, b: Dated): number {
  const ta = a.metadata.creationTimestamp ?? "";
  const tb = b.metadata.creationTimestamp ?? "";
  if (ta !== tb) return ta === "" ? 1 : tb === "" ? -1 : ta < tb ? -1 : 1;
  const ka = `${a.metadata.namespace}/${a.metadata.name}`;
  const kb = `${b.metadata.namespace}/${b.metadata.name}`;
  return ka < kb ? -1 : ka > kb ? 1 : 0;
}
