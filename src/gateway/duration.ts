/**
 * Gateway API durations (GEP-2257): one to four `<number><unit>` parts with
 * units h, m, s, ms, e.g. `1h30m` or `500ms`. Returns seconds, or undefined
 * when the text is not a duration.
 */
const PART = /(\d{1,5})(h|ms|m|s)/y;
const UNIT_SECONDS: Readonly<Record<string, number>> = { h: 3600, m: 60, s: 1, ms: 0.001 };

export function parseGatewayDuration(text: string): number | undefined {
  if (text === "") return undefined;
  PART.lastIndex = 0;
  let seconds = 0;
  let parts = 0;
  while (PART.lastIndex < text.length) {
    const m = PART.exec(text);
    if (m === null) return undefined;
    seconds += Number(m[1]) * (UNIT_SECONDS[m[2] ?? ""] ?? 0);
    parts++;
  }
  return parts >= 1 && parts <= 4 ? Math.round(seconds * 1000) / 1000 : undefined;
}
