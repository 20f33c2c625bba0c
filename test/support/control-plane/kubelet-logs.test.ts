import { describe, expect, it } from "vitest";
import type { LogEntry } from "./container-log.ts";
import { selectLog } from "./kubelet-logs.ts";

const at = (s: string) => new Date(`2026-01-01T00:00:${s}Z`);
const entries: LogEntry[] = [
  { time: at("01"), stream: "stdout", line: "one" },
  { time: at("02"), stream: "stderr", line: "two" },
  { time: at("03"), stream: "stdout", line: "three" },
];
const q = (s: string) => new URLSearchParams(s);

describe("kubelet container log query", () => {
  it("answers every line of both streams without options", () => {
    expect(selectLog(entries, q(""), at("09"))).toBe("one\ntwo\nthree\n");
  });

  it("sinceTime keeps the lines written at or after it; sinceSeconds counts back from now", () => {
    expect(selectLog(entries, q("sinceTime=2026-01-01T00:00:02Z"), at("09"))).toBe("two\nthree\n");
    expect(selectLog(entries, q("sinceSeconds=7"), at("09"))).toBe("two\nthree\n");
  });

  it("tailLines, timestamps and limitBytes", () => {
    expect(selectLog(entries, q("tailLines=1"), at("09"))).toBe("three\n");
    expect(selectLog(entries, q("tailLines=1&timestamps=true"), at("09"))).toBe(
      "2026-01-01T00:00:03.000Z three\n",
    );
    expect(selectLog(entries, q("limitBytes=5"), at("09"))).toBe("one\nt");
  });
});
