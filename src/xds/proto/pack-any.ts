/**
 * Typed `google.protobuf.Any` in proto3 JSON: `packAny(name, message)` gives
 * `{ "@type": "type.googleapis.com/<name>", ...message }`, with the message
 * checked at compile time against the generated type of `name`.
 */
import { typeUrlOf } from "./envoy-protos.ts";
import type { AnyJson, EnvoyMessages } from "./envoy-types.ts";

export function packAny<N extends keyof EnvoyMessages>(typeName: N, message: EnvoyMessages[N]): AnyJson {
  return { "@type": typeUrlOf(typeName), ...message };
}

/**
 * The message inside an Any when its `@type` names `typeName`, typed as that
 * message; undefined for an absent Any or one of another type.
 */
export function unpackAny<N extends keyof EnvoyMessages>(
  any: AnyJson | undefined,
  typeName: N,
): EnvoyMessages[N] | undefined {
  if (any === undefined || any["@type"] !== typeUrlOf(typeName)) return undefined;
  const { "@type": _, ...message } = any;
  return message as EnvoyMessages[N];
}
