import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { formatFlow } from "../cli/flow-format.ts";
import { accessLogFlow, LineFollower } from "./access-log.ts";
import { matchesFlow } from "./flow-filter.ts";

const resolve = (ip: string) =>
  ip === "10.0.0.1" ? { identity: 1001, pod: "default/client" } : { identity: 1002, pod: "default/server" };

describe("L7 flows from the node's Envoy's access log", () => {
  it("turns a denied request into a DROPPED http-request flow, printed like hubble", () => {
    const flow = accessLogFlow(
      JSON.stringify({
        time: "2026-01-01T10:00:00.123Z",
        direction: "ingress",
        endpoint: "7",
        source: "10.0.0.1:41532",
        destination: "10.0.0.2:80",
        protocol: "HTTP/1.1",
        method: "POST",
        path: "/private",
        authority: "server",
        status: "403",
        details: "rbac_access_denied_matched_policy[none]",
        duration_ms: "0",
      }),
      resolve,
    );
    expect(flow).toMatchObject({ verdict: "DROPPED", endpointId: 7, l7: { method: "POST", status: 403 } });
    if (flow === undefined) throw new Error("no flow");
    expect(formatFlow(flow)).toBe(
      "Jan  1 10:00:00.123: default/client:41532 (ID:1001) -> default/server:80 (ID:1002) http-request DROPPED (HTTP/1.1 POST http://server/private) => 403 policy denied (L7)",
    );
    expect(matchesFlow(flow, { protocol: "http" })).toBe(true);
    expect(matchesFlow(flow, { protocol: "l3-l4" })).toBe(false);
  });

  it("skips lines that are not strait's records", () => {
    expect(accessLogFlow("not json", resolve)).toBeUndefined();
    expect(accessLogFlow(JSON.stringify({ status: 200 }), resolve)).toBeUndefined();
  });

  it("follows a file: new complete lines only, from the start again after truncation", () => {
    const dir = mkdtempSync(join(tmpdir(), "strait-access-log-"));
    try {
      const file = join(dir, "access.log");
      writeFileSync(file, "old\n");
      const f = new LineFollower(file);
      expect(f.poll()).toEqual([]);
      appendFileSync(file, "a\nb");
      expect(f.poll()).toEqual(["a"]);
      appendFileSync(file, "\n");
      expect(f.poll()).toEqual(["b"]);
      writeFileSync(file, "c\n");
      expect(f.poll()).toEqual(["c"]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
