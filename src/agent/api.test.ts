/**
 * The agent API refuses bad bodies before it changes anything (400 with the
 * fields, never 500), needs an explicit GC list, and takes writes over TCP
 * only with its token. The agent behind it is a recorder: every call it gets
 * is a change the API made, so "nothing changed" is checked, not assumed.
 */
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import type { Agent } from "./agent.ts";
import { type ApiWrites, createAgentApi } from "./api.ts";
import type { FlowBuffer } from "./flows.ts";
import type { AgentMetrics } from "./metrics.ts";

function recordingAgent() {
  const calls: string[] = [];
  const attachments = [
    { containerId: "a", ifName: "eth0" },
    { containerId: "b", ifName: "eth0" },
  ];
  const agent = {
    desired: { endpoints: [], policies: [], ipcache: [] },
    status: () => ({ endpoints: [] }),
    cni: { all: () => attachments },
    datapath: {
      setAuth: (entry: unknown) => {
        calls.push(`setAuth ${JSON.stringify(entry)}`);
        return { ok: true };
      },
    },
    applyDesired: async () => {
      calls.push("applyDesired");
      return { ok: true, value: { applied: true } };
    },
    reject: () => calls.push("reject"),
    cniAdd: async (a: { containerId: string }) => {
      calls.push(`cniAdd ${a.containerId}`);
      return { ok: true, value: undefined };
    },
    cniDel: async (containerId: string, ifName: string) => {
      calls.push(`cniDel ${containerId}/${ifName}`);
    },
    cniCheck: () => ({ ok: true, value: undefined }),
  };
  return { agent: agent as unknown as Agent, calls };
}

function api(writes?: ApiWrites) {
  const { agent, calls } = recordingAgent();
  const app = createAgentApi(
    {
      agent,
      flows: { list: () => [] } as unknown as FlowBuffer,
      metrics: { registry: new Registry() } as unknown as AgentMetrics,
      logger: pino({ level: "silent" }),
      notReadyReason: () => undefined,
    },
    writes,
  );
  return { app, calls };
}

const json = (body: unknown) => ({
  headers: { "content-type": "application/json" },
  payload: JSON.stringify(body),
});

describe("agent API input", () => {
  it("refuses a null or missing GC list without deleting anything, and keeps exactly the listed ones", async () => {
    const { app, calls } = api();
    for (const body of [null, {}, { valid: null }, { valid: "all" }, { valid: [{ containerId: 7 }] }, []]) {
      const r = await app.inject({ method: "POST", url: "/api/v1/cni/gc", ...json(body) });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.json().errors.length).toBeGreaterThan(0);
    }
    expect(calls).toEqual([]);
    const r = await app.inject({
      method: "POST",
      url: "/api/v1/cni/gc",
      ...json({ valid: [{ containerId: "a", ifName: "eth0" }] }),
    });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ removed: 1 });
    expect(calls).toEqual(["cniDel b/eth0"]);
  });

  it("answers 400 naming the fields for bad auth, CNI and desired-state bodies, never 500, and changes nothing", async () => {
    const { app, calls } = api();
    const deep: Record<string, unknown> = {};
    let at = deep;
    for (let i = 0; i < 500; i++) {
      const next: Record<string, unknown> = {};
      at.x = next;
      at = next;
    }
    const cases: [string, string, unknown, string][] = [
      ["POST", "/api/v1/auth", null, "(root)"],
      [
        "POST",
        "/api/v1/auth",
        { localIdentity: "1", remoteIdentity: 2, authType: "mtls-spiffe" },
        "localIdentity",
      ],
      ["POST", "/api/v1/auth", { localIdentity: 1, remoteIdentity: 2, authType: "x" }, "authType"],
      [
        "POST",
        "/api/v1/auth",
        { localIdentity: 1, remoteIdentity: 2, authType: "always-fail", seconds: -1 },
        "seconds",
      ],
      [
        "POST",
        "/api/v1/auth",
        { localIdentity: 1, remoteIdentity: 2, authType: "always-fail", remoteNode: { a: 1 } },
        "remoteNode",
      ],
      [
        "POST",
        "/api/v1/auth",
        { localIdentity: 1, remoteIdentity: 2, authType: "always-fail", deep },
        "deep",
      ],
      ["POST", "/api/v1/cni/add", { containerId: "c", ifName: "eth0" }, "hostInterface"],
      [
        "POST",
        "/api/v1/cni/add",
        { containerId: "c", ifName: "eth0", hostInterface: "veth1", addresses: ["10.0.0.300"] },
        "addresses[0]",
      ],
      ["POST", "/api/v1/cni/del", { containerId: ["c"], ifName: "eth0" }, "containerId"],
      ["POST", "/api/v1/cni/check", "text", "(root)"],
      [
        "PUT",
        "/api/v1/desired-state",
        {
          endpoints: [
            { id: 1, identity: 1001, addresses: ["10.0.0.5"], sources: [{ kind: deep, name: "x" }] },
          ],
        },
        "endpoints[0].sources[0].kind",
      ],
      [
        "PUT",
        "/api/v1/desired-state",
        { endpoints: [{ id: 1, identity: 1001, addresses: ["10.0.0.5"], extra: deep }] },
        "endpoints[0].extra",
      ],
    ];
    for (const [method, url, body, field] of cases) {
      const r = await app.inject({ method: method as "POST", url, ...json(body) });
      expect(r.statusCode, `${url} ${JSON.stringify(body).slice(0, 80)}`).toBe(400);
      expect(
        (r.json().errors as { field: string }[]).map((e) => e.field),
        url,
      ).toContain(field);
    }
    // A body that is not JSON at all: still 400, from the parser.
    const broken = await app.inject({
      method: "PUT",
      url: "/api/v1/desired-state",
      headers: { "content-type": "application/json" },
      payload: '{"endpoints": [',
    });
    expect(broken.statusCode).toBe(400);
    // Desired-state refusals are counted and logged by the agent (reject); nothing was applied.
    expect(calls.filter((c) => c !== "reject")).toEqual([]);
  });
});

describe("agent API writers", () => {
  const state = { endpoints: [], policies: [], ipcache: [] };

  it("the TCP listener without a token is read-only: writes get 403, reads work", async () => {
    const { app, calls } = api({ kind: "read-only" });
    expect((await app.inject({ method: "GET", url: "/api/v1/desired-state" })).statusCode).toBe(200);
    for (const [method, url] of [
      ["PUT", "/api/v1/desired-state"],
      ["POST", "/api/v1/cni/gc"],
      ["POST", "/api/v1/auth"],
    ] as const) {
      const r = await app.inject({ method, url, ...json(url.endsWith("gc") ? { valid: [] } : state) });
      expect(r.statusCode, url).toBe(403);
    }
    expect(calls).toEqual([]);
  });

  it("with a token, only requests carrying it may write", async () => {
    const token = "s3cret-token-of-the-node";
    const { app, calls } = api({ kind: "token", token });
    const put = (authorization?: string) =>
      app.inject({
        method: "PUT",
        url: "/api/v1/desired-state",
        headers: {
          "content-type": "application/json",
          ...(authorization === undefined ? {} : { authorization }),
        },
        payload: JSON.stringify(state),
      });
    expect((await put()).statusCode).toBe(403);
    expect((await put("Bearer wrong-token-of-the-node")).statusCode).toBe(403);
    expect((await put(`Basic ${token}`)).statusCode).toBe(403);
    expect(calls).toEqual([]);
    expect((await put(`Bearer ${token}`)).statusCode).toBe(200);
    expect(calls).toEqual(["applyDesired"]);
  });
});
