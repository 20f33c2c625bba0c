/**
 * The controller's built-in CA issuer, in a running controller (standalone
 * mode, pods in the watched folder), with the agent's real provider as the
 * client: a node gets SVIDs only for identities with endpoints on it, and the
 * answer follows the pods as they move.
 */

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../test/support/capture-logger.ts";
import { waitFor } from "../../test/support/wait.ts";
import { BuiltinCaProvider } from "../auth/builtin-ca/provider.ts";
import { pemBlocks } from "../auth/certificate.ts";
import { formatSpiffeId, parseTrustDomain } from "../auth/spiffe-id.ts";
import { RUN_SETTINGS, resolveSettings } from "./config.ts";
import { type RunningController, startController } from "./start.ts";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const TOKENS = { "node-1": "token-of-node-one-0123456789", "node-2": "token-of-node-two-0123456789" };
const waitLong = (condition: () => boolean, what: string) => waitFor(condition, what, 20_000);

function podYaml(name: string, app: string, node: string, ip: string): string {
  return `apiVersion: v1
kind: Pod
metadata: { name: ${name}, namespace: default, labels: { app: ${app} } }
spec: { nodeName: ${node}, containers: [{ name: c, image: x }] }
status: { podIP: ${ip} }
`;
}

async function startWithIssuer(flags: Record<string, unknown> = {}): Promise<{
  running: RunningController;
  dir: string;
  caDir: string;
}> {
  const dir = mkdtempSync(join(tmpdir(), "strait-ca-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const manifests = join(dir, "manifests");
  const caDir = join(dir, "ca");
  const tokens = join(dir, "tokens.yaml");
  writeFileSync(
    tokens,
    Object.entries(TOKENS)
      .map(([n, t]) => `${n}: ${t}\n`)
      .join(""),
  );
  const { mkdirSync } = await import("node:fs");
  mkdirSync(manifests);
  writeFileSync(join(manifests, "web.yaml"), podYaml("web", "web", "node-1", "10.1.0.10"));
  writeFileSync(join(manifests, "db.yaml"), podYaml("db", "db", "node-2", "10.1.0.20"));
  const settings = resolveSettings(
    RUN_SETTINGS,
    {
      file: manifests,
      "http-address": "127.0.0.1:0",
      "xds-address": "127.0.0.1:0",
      "builtin-ca-dir": caDir,
      "builtin-ca-address": "127.0.0.1:0",
      "builtin-ca-node-tokens": tokens,
      "svid-ttl": "10m",
      envoy: "none",
      ...flags,
    },
    {},
    undefined,
  );
  const running = await startController(settings, captureLogger("silent").logger);
  cleanups.push(() => running.stop());
  return { running, dir: manifests, caDir };
}

function identityOf(running: RunningController, pod: string): number {
  const e = running.pipeline.latest?.policy.endpoints.find((x) => x.pod === pod);
  if (e === undefined) throw new Error(`no endpoint ${pod}`);
  return e.identity;
}

function provider(url: string, caDir: string, node: keyof typeof TOKENS): BuiltinCaProvider {
  const td = parseTrustDomain("strait.local");
  if (!td.ok) throw new Error(td.error);
  const root = pemBlocks(readFileSync(join(caDir, "tls.crt"), "utf8"))[0];
  if (root === undefined) throw new Error("no root");
  const p = new BuiltinCaProvider({
    trustDomain: td.value,
    url,
    nodeToken: TOKENS[node],
    bootstrapRootDer: root,
    retryMinMs: 50,
    retryMaxMs: 200,
  });
  cleanups.push(() => p.stop());
  return p;
}

/** One raw request to the issuer: its status code. */
function post(url: string, caDir: string, token: string, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${url}/v1/svids`,
      {
        method: "POST",
        ca: readFileSync(join(caDir, "tls.crt")),
        checkServerIdentity: () => undefined, // the issuer's SVID has a SPIFFE URI SAN, no DNS name
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end(JSON.stringify(body));
  });
}

describe("the controller's built-in CA issuer", () => {
  it("issues a node SVIDs only for the identities of its own endpoints, following the pods", async () => {
    const { running, dir, caDir } = await startWithIssuer();
    const url = running.issuerUrl ?? "";
    expect(url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    await waitLong(() => (running.pipeline.latest?.policy.endpoints.length ?? 0) === 2, "the first pass");
    const web = identityOf(running, "default/web");
    const db = identityOf(running, "default/db");

    const one = provider(url, caDir, "node-1");
    one.setIdentities(new Set([web, db]));
    await waitLong(() => one.svidFor(web) !== undefined, "node-1's SVID for web");
    const svid = one.svidFor(web);
    expect(svid === undefined ? "" : formatSpiffeId(svid.id)).toBe(`spiffe://strait.local/identity/${web}`);
    expect((svid?.notAfter.getTime() ?? 0) - Date.now()).toBeLessThanOrEqual(10 * 60_000);
    // db runs on node-2: node-1 is refused it, however often it asks.
    await new Promise((r) => setTimeout(r, 300));
    expect(one.svidFor(db)).toBeUndefined();
    const metrics = await (await fetch(`http://${running.httpAddress}/metrics`)).text();
    expect(Number(/^strait_builtin_ca_svids_refused_total (\d+)/m.exec(metrics)?.[1])).toBeGreaterThan(0);

    // db moves to node-1 (a new pod there): now node-1 may have it.
    writeFileSync(join(dir, "db.yaml"), podYaml("db", "db", "node-1", "10.1.0.21"));
    await waitLong(() => one.svidFor(db) !== undefined, "node-1's SVID for db after the move");
  }, 60_000);

  it("answers 401 to an unknown token, 403 for a foreign identity, 400 to bad requests", async () => {
    const { running, caDir } = await startWithIssuer();
    await waitLong(() => (running.pipeline.latest?.policy.endpoints.length ?? 0) === 2, "the first pass");
    const url = running.issuerUrl ?? "";
    const db = identityOf(running, "default/db");
    const key =
      "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n";
    expect(await post(url, caDir, "not-a-token-of-any-node", { identity: db, publicKey: key })).toBe(401);
    expect(await post(url, caDir, TOKENS["node-1"], { identity: db, publicKey: key })).toBe(403);
    expect(await post(url, caDir, TOKENS["node-1"], { identity: "db", publicKey: key })).toBe(400);
    // Right node, bad key: refused by the CA, not issued.
    expect(await post(url, caDir, TOKENS["node-2"], { identity: db, publicKey: key })).toBe(400);
  }, 60_000);

  it("keeps its root across restarts (the folder is the Secret), and refuses bad settings", async () => {
    const first = await startWithIssuer();
    const root = readFileSync(join(first.caDir, "tls.crt"), "utf8");
    await first.running.stop();
    await startWithIssuer({ "builtin-ca-dir": first.caDir });
    expect(readFileSync(join(first.caDir, "tls.crt"), "utf8")).toBe(root);

    await expect(startWithIssuer({ "builtin-ca-node-tokens": undefined })).rejects.toMatchObject({
      code: "E_CONFIG",
      message: expect.stringContaining("--builtin-ca-node-tokens"),
    });
    const bad = join(mkdtempSync(join(tmpdir(), "strait-tok-")), "t.yaml");
    cleanups.push(() => rmSync(bad, { force: true }));
    writeFileSync(bad, "node-1: short\n");
    await expect(startWithIssuer({ "builtin-ca-node-tokens": bad })).rejects.toMatchObject({
      code: "E_CONFIG",
      message: expect.stringContaining("at least 16 characters"),
    });
    await expect(startWithIssuer({ "trust-domain": "Not A Domain" })).rejects.toMatchObject({
      code: "E_CONFIG",
      message: expect.stringContaining("--trust-domain"),
    });
  }, 60_000);
});
