/**
 * Building status conditions. Status is output, never input: every
 * condition is stamped with the pass's clock. Keeping `lastTransitionTime`
 * while a condition's status holds is the status writers' job
 * (src/sources/status/transition-times.ts), which compare with what the
 * object has now, so a reconcile that changes nothing writes nothing.
 */
import type { Condition } from "../model/status.ts";

export interface ConditionInput {
  readonly type: string;
  readonly status: "True" | "False" | "Unknown";
  readonly reason: string;
  readonly message: string;
}

/** `message` maxLength of metav1.Condition in every Gateway API CRD. */
const MAX_MESSAGE = 32768;

function clipMessage(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE - 1)}…`;
}

/** Conditions with generation and the pass's time, in the order given. */
export function buildConditions(
  inputs: readonly ConditionInput[],
  generation: number | undefined,
  now: Date,
): Condition[] {
  const stamp = conditionTime(now);
  return inputs.map((c) => ({
    type: c.type,
    status: c.status,
    reason: c.reason,
    message: clipMessage(c.message),
    ...(generation === undefined ? {} : { observedGeneration: generation }),
    lastTransitionTime: stamp,
  }));
}

/** A condition timestamp: RFC 3339 in whole seconds, as metav1.Time serializes. */
export function conditionTime(now: Date): string {
  return now.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export function cond(type: string, ok: boolean, reason: string, message: string): ConditionInput {
  return { type, status: ok ? "True" : "False", reason, message };
}
