/**
 * The byte layout of a C struct shared with the datapath. Every codec
 * declares its struct's layout here-in-code; codecs.test.ts compares each
 * one with the BTF of the compiled object, so C and TypeScript cannot drift.
 */
export interface FieldLayout {
  readonly offset: number;
  readonly size: number;
}

export interface StructLayout {
  /** The C struct's name in bpf/lib/*.h. */
  readonly struct: string;
  readonly size: number;
  /** Every member of the struct (padding included), by its C name. */
  readonly fields: Readonly<Record<string, FieldLayout>>;
}

/** A struct's fields, laid out one after the other as [name, size] (natural alignment is the author's job). */
export function layout(struct: string, members: readonly (readonly [string, number])[]): StructLayout {
  const fields: Record<string, FieldLayout> = {};
  let offset = 0;
  for (const [name, size] of members) {
    fields[name] = { offset, size };
    offset += size;
  }
  return { struct, size: offset, fields };
}

export function offsetOf(l: StructLayout, field: string): number {
  const f = l.fields[field];
  if (f === undefined) throw new TypeError(`${l.struct} has no field ${field}`);
  return f.offset;
}
