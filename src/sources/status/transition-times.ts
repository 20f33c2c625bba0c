/**
 * `lastTransitionTime` is "the last time the condition transitioned from one
 * status to another" (metav1.Condition). The pipeline stamps every condition
 * with the pass's clock and never reads an object's status; the status
 * writers keep the time the object already has for each condition whose
 * status did not change, as client-go's meta.SetStatusCondition does, before
 * deciding whether anything changed.
 *
 * Conditions are matched by `type` within the same place of the status tree;
 * list entries by their identity: `name` (listeners), `parentRef` with
 * `controllerName` (route parents), `ancestorRef` with `controllerName`
 * (policy ancestors). Everything else is taken from the new status as it is.
 */

type Json = unknown;

function isRecord(v: Json): v is Record<string, Json> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function isCondition(v: Json): v is Record<string, Json> & { type: string; status: string } {
  return (
    isRecord(v) && typeof v.type === "string" && typeof v.status === "string" && "lastTransitionTime" in v
  );
}

/** The identity of a list entry, or undefined when entries are matched by position. */
function identity(v: Json): string | undefined {
  if (!isRecord(v)) return undefined;
  if (isCondition(v)) return `type:${v.type}`;
  if (v.parentRef !== undefined) return `parent:${JSON.stringify(v.parentRef)}:${String(v.controllerName)}`;
  if (v.ancestorRef !== undefined)
    return `ancestor:${JSON.stringify(v.ancestorRef)}:${String(v.controllerName)}`;
  if (typeof v.name === "string") return `name:${v.name}`;
  return undefined;
}

function carryList(previous: Json, next: readonly Json[]): Json[] {
  const prev = Array.isArray(previous) ? previous : [];
  const byIdentity = new Map<string, Json>();
  for (const p of prev) {
    const id = identity(p);
    if (id !== undefined && !byIdentity.has(id)) byIdentity.set(id, p);
  }
  let changed = false;
  const out = next.map((item, i) => {
    const id = identity(item);
    const match = id === undefined ? prev[i] : byIdentity.get(id);
    const carried = carryTransitionTimes(match, item);
    if (carried !== item) changed = true;
    return carried;
  });
  return changed ? out : (next as Json[]);
}

/**
 * `next` with the transition times of `previous` kept where a condition's
 * status holds. Returns `next` itself when nothing is carried over.
 */
export function carryTransitionTimes<T>(previous: Json, next: T): T {
  if (Array.isArray(next)) return carryList(previous, next) as T;
  if (!isRecord(next)) return next;
  if (isCondition(next)) {
    if (
      isCondition(previous) &&
      previous.type === next.type &&
      previous.status === next.status &&
      typeof previous.lastTransitionTime === "string" &&
      previous.lastTransitionTime !== next.lastTransitionTime
    )
      return { ...next, lastTransitionTime: previous.lastTransitionTime } as T;
    return next;
  }
  const prev = isRecord(previous) ? previous : {};
  let out: Record<string, Json> | undefined;
  for (const [k, v] of Object.entries(next)) {
    const carried = carryTransitionTimes(prev[k], v);
    if (carried !== v) {
      out ??= { ...next };
      out[k] = carried;
    }
  }
  return (out ?? next) as T;
}
