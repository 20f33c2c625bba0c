/**
 * Node-local endpoint ids (1..65535, the datapath's `endpoint_info.id`): a
 * pod keeps the id it had; a new pod gets the slot its name hashes to,
 * probing upward past the taken ones, so the ids do not depend on the order
 * pods appear in, and a controller restart (no previous ids) gives the same
 * ids again unless two pods once collided.
 */
const MAX_ID = 65535;

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function assignEndpointIds(
  pods: readonly string[],
  previous: ReadonlyMap<string, number> | undefined,
): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  const taken = new Set<number>();
  for (const pod of pods) {
    const id = previous?.get(pod);
    if (id !== undefined && !taken.has(id)) {
      out.set(pod, id);
      taken.add(id);
    }
  }
  for (const pod of [...pods].sort()) {
    if (out.has(pod)) continue;
    const start = fnv1a(pod) % MAX_ID;
    for (let i = 0; i < MAX_ID; i++) {
      const id = 1 + ((start + i) % MAX_ID);
      if (taken.has(id)) continue;
      out.set(pod, id);
      taken.add(id);
      break;
    }
  }
  return out;
}
