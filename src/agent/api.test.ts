/**
 * The agent API refuses bad bodies before it changes anything (400 with the
 * fields, never 500), needs an explicit GC list, and takes writes over TCP
 * only with its token or a client certificate of its CA. The agent behind it is a recorder: every call it gets
 * is a change the API made, so "nothing changed" is checked, not assumed.
 */
import { request as httpsRequest } from "node:https";
import type { AddressInfo } from "node:net";
import { pino } from "pino";
import { Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { derToPem } from "../auth/certificate.ts";
import {
  caExtensions,
  generateKeyPair,
  issueCertificate,
  type KeyPair,
  privateKeyPem,
} from "../auth/issue.ts";
import { x509 } from "../auth/x509-lib.ts";
import type { Agent } from "./agent.ts";
import { type ApiTls, type ApiWrites, createAgentApi } from "./api.ts";
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

function api(writes?: ApiWrites, tls?: ApiTls) {
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
    tls,
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

interface TestCa {
  readonly pem: string;
  readonly name: string;
  readonly keys: KeyPair;
}

async function testCa(name: string): Promise<TestCa> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const der = await issueCertificate({
    subject: `CN=${name}`,
    publicKey: keys.publicKey,
    selfKey: keys.privateKey,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3600_000),
    extensions: await caExtensions(keys.publicKey),
  });
  return { pem: derToPem(der), name: `CN=${name}`, keys };
}

/** A leaf of `ca` good for TLS servers and clients, for 127.0.0.1. */
async function leafOf(ca: TestCa, cn: string): Promise<{ cert: string; key: string }> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const der = await issueCertificate({
    subject: `CN=${cn}`,
    publicKey: keys.publicKey,
    issuer: { name: ca.name, privateKey: ca.keys.privateKey },
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 3600_000),
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([
        x509.ExtendedKeyUsage.serverAuth,
        x509.ExtendedKeyUsage.clientAuth,
      ]),
      new x509.SubjectAlternativeNameExtension([{ type: "ip", value: "127.0.0.1" }]),
    ],
  });
  return { cert: derToPem(der), key: await privateKeyPem(keys.privateKey) };
}

/** One real HTTPS request (a failed connection rejects). */
function call(
  port: number,
  ca: string,
  method: string,
  path: string,
  client?: { cert: string; key: string },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        ca,
        ...(client ?? {}),
        headers: { "content-type": "application/json" },
        agent: false,
      },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => {
          body += chunk.toString();
        });
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end(method === "GET" ? undefined : JSON.stringify({ endpoints: [], policies: [], ipcache: [] }));
  });
}

describe("agent API over TLS with a client CA", () => {
  it("reads need no certificate; a write needs a client certificate of the client CA", async () => {
    const serverCa = await testCa("strait test server CA");
    const clientCa = await testCa("strait test client CA");
    const otherCa = await testCa("some other CA");
    const server = await leafOf(serverCa, "agent");
    const { app, calls } = api({ kind: "client-cert" }, { ...server, clientCa: clientCa.pem });
    await app.listen({ host: "127.0.0.1", port: 0 });
    try {
      const port = (app.server.address() as AddressInfo).port;
      const good = await leafOf(clientCa, "operator");
      const foreign = await leafOf(otherCa, "operator");

      const read = await call(port, serverCa.pem, "GET", "/api/v1/desired-state");
      expect(read.status).toBe(200);
      const anonymous = await call(port, serverCa.pem, "PUT", "/api/v1/desired-state");
      expect(anonymous.status).toBe(401);
      expect(anonymous.body).toContain("--api-client-ca");
      const wrongCa = await call(port, serverCa.pem, "PUT", "/api/v1/desired-state", foreign);
      expect(wrongCa.status).toBe(403);
      expect(wrongCa.body).toContain("does not chain");
      // A certificate of the server's own CA is not a client certificate of the client CA either.
      const serverSide = await call(port, serverCa.pem, "PUT", "/api/v1/desired-state", server);
      expect(serverSide.status).toBe(403);
      expect(calls).toEqual([]);

      const ok = await call(port, serverCa.pem, "PUT", "/api/v1/desired-state", good);
      expect(ok.status, ok.body).toBe(200);
      expect(calls).toEqual(["applyDesired"]);
      // Plain HTTP to the TLS listener gets nowhere.
      const plain = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (r) => r.status,
        () => "refused",
      );
      expect(plain).not.toBe(200);
    } finally {
      await app.close();
    }
  });
});
