/**
 * Encryption of auth-required flows end to end with real SPIRE as the
 * identity provider (EncryptionLab with provider "spire": spire-server in
 * node A's namespace, a spire-agent per node joined with a token, built by
 * scripts/build-spire.sh). The controller keeps the registration entries
 * (`--spire-server-socket`, and the delegate entry for the agent process's
 * `--spire-delegate-selector`), each strait agent takes its SVIDs over its
 * node's Delegated Identity API and serves them to its Envoy over SDS; the
 * rest is test/encryption.privileged.test.ts's lab.
 *
 * The client's connection works at once through the tunnel (no dropped first
 * SYN), its bytes never cross the link in the clear, the server's datapath
 * takes the client's identity from the tunnel's mark, and each agent serves
 * its Envoy only its own pods' SVIDs although SPIRE hands every agent every
 * identity's under strait's selector. With the client node's SPIRE agent
 * down, the running Envoy keeps the SVID it holds (Envoy ignores an SDS
 * removal), a restarted one has none and fails closed, and SPIRE's return
 * brings the tunnel back.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRequest } from "../src/agent/client.ts";
import type { Flow } from "../src/agent/flows.ts";
import { EncryptionLab, SERVER_PORT } from "./support/encryption-lab.ts";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "./support/kernel.ts";
import { sweepLeftovers } from "./support/netns-lab.ts";
import { spireBinaries } from "./support/spire.ts";
import { waitForValue } from "./support/wait.ts";

const SECRET = "a-line-spire-s-tunnel-must-never-show-in-the-clear";

const spire = canRunKernelTests ? spireBinaries() : undefined;
const SKIP_REASON = KERNEL_SKIP_REASON ?? (spire !== undefined && "skip" in spire ? spire.skip : undefined);

interface AuthStatus {
  provider: string;
  healthy: boolean;
  envoySds?: { socket: string; secrets: string[] };
}

describe.skipIf(SKIP_REASON !== undefined)(
  `encryption of auth-required flows between two nodes with real SPIRE ${SKIP_REASON ?? ""}`,
  () => {
    let e: EncryptionLab;

    const authOf = async (socket: string) =>
      (await agentRequest(socket, "GET", "/api/v1/auth")).body as AuthStatus;
    const identityOf = async (socket: string, pod: string) =>
      (
        (await agentRequest(socket, "GET", "/api/v1/status")).body as {
          endpoints: { pod: string; identity: number }[];
        }
      ).endpoints.find((x) => x.pod === pod)?.identity;

    beforeAll(async () => {
      sweepLeftovers();
      e = new EncryptionLab(247, 248, 8, { provider: "spire" });
      const t0 = performance.now();
      await e.start({ encryption: true, policy: true });
      process.stdout.write(
        `lab with SPIRE up, SVIDs served to both Envoys: ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
      );
    }, 240_000);

    afterAll(async () => {
      await e?.stop();
    });

    it("keeps the SPIRE entries from the controller and serves SPIRE's SVIDs to each Envoy over SDS", async () => {
      // The controller, not the test, created the entries (the identities and the delegate).
      expect(e.controllerLogs.some((l) => (l as { msg?: string }).msg === "SPIRE entries in step")).toBe(
        true,
      );
      const clientIdentity = await identityOf(e.lab.a.socket, "default/client");
      const intruderIdentity = await identityOf(e.lab.a.socket, "default/intruder");
      const serverIdentity = await identityOf(e.lab.b.socket, "default/server");
      const b = await authOf(e.lab.b.socket);
      expect(b.provider).toBe("spire");
      expect(b.healthy).toBe(true);
      expect(b.envoySds?.secrets).toEqual([
        "spiffe://strait.local",
        `spiffe://strait.local/identity/${serverIdentity}`,
      ]);
      // SPIRE gives every delegate every SVID under strait's selector: the SDS keeps to the node's pods.
      const a = await authOf(e.lab.a.socket);
      expect(a.provider).toBe("spire");
      expect([...(a.envoySds?.secrets ?? [])].sort()).toEqual(
        [
          "spiffe://strait.local",
          `spiffe://strait.local/identity/${clientIdentity}`,
          `spiffe://strait.local/identity/${intruderIdentity}`,
        ].sort(),
      );
    });

    it("carries the client's flow through the tunnel at once, never in the clear on the link", async () => {
      const { reply, elapsedMs, capture } = await e.connectCaptured(SECRET);
      expect(reply, JSON.stringify(reply)).toMatchObject({ ok: true, reply: `server:${SECRET}` });
      // No dropped first SYN waiting for a handshake (that costs the 1 s retransmission timer).
      expect(elapsedMs).toBeLessThan(900);
      process.stdout.write(
        `first SYN to established + echo, encrypted with SPIRE's SVIDs: ${elapsedMs.toFixed(1)} ms\n`,
      );
      // The capture saw the control datagram, the tunnel's segments, and no TCP segment with the bytes.
      expect(Number(capture.needleFrames)).toBeGreaterThan(0);
      expect(capture.needleTcpFrames).toBe(0);
      expect(Number(capture.portSegments)).toBeGreaterThan(0);

      // The server's datapath took the client's identity from the tunnel's mark.
      const flows = (await agentRequest(e.lab.b.socket, "GET", "/api/v1/flows")).body as Flow[];
      const admitted = flows.find(
        (f) =>
          f.eventType === "policy-verdict" &&
          f.destination.port === SERVER_PORT &&
          f.direction === "ingress" &&
          f.verdict === "FORWARDED",
      );
      expect(admitted, JSON.stringify(flows.slice(-5))).toBeDefined();
      expect(admitted?.source.identity).toBe(await identityOf(e.lab.a.socket, "default/client"));
      expect(flows.filter((f) => f.eventType === "auth-required")).toEqual([]);
    });

    it("still refuses a pod the policy does not allow", async () => {
      const r = await e.intruder.helper.call("tcpConnect", {
        host: e.server.ip,
        port: SERVER_PORT,
        timeoutMs: 2000,
      });
      expect(r.ok).toBe(false);
    });

    it("with the client node's SPIRE agent down: Envoy keeps the SVID it holds, a restarted Envoy has none and fails closed, and SPIRE's return restores the tunnel", async () => {
      const connect = () =>
        e.client.helper.call("tcpConnect", {
          host: e.server.ip,
          port: SERVER_PORT,
          message: "again",
          timeoutMs: 3000,
        });
      const clientSvid = `spiffe://strait.local/identity/${await identityOf(e.lab.a.socket, "default/client")}`;
      const envoyCerts = async () =>
        e.envoyA === undefined ? "" : e.envoyAdmin(e.lab.a, e.envoyA, "/certs");
      await e.spire?.killAgent("node-a");
      await e.agentA?.waitForLog((l) => l.msg === "SPIRE agent unreachable: SVIDs dropped", 30_000);
      // The agent drops SPIRE's SVIDs and stops serving them (SPIRE is the source of truth)...
      await waitForValue("node A's SDS empty", async () =>
        (await authOf(e.lab.a.socket)).envoySds?.secrets.length === 0 ? true : undefined,
      );
      // ...but Envoy ignores an SDS removal and keeps the SVID it holds: the tunnel still works.
      expect(await envoyCerts()).toContain(clientSvid);
      expect(await connect()).toMatchObject({ ok: true, reply: "server:again" });

      // A node Envoy that starts meanwhile gets no SVID: no tunnel, and no plain text either.
      await e.envoyA?.stop();
      await e.restartEnvoyA();
      await waitForValue("the outbound listener on the new Envoy", async () =>
        e.envoyA !== undefined && (await e.listenersOf(e.lab.a, e.envoyA)).includes("strait/encrypt/outbound")
          ? true
          : undefined,
      );
      expect(await envoyCerts()).not.toContain(clientSvid);
      const refused = await connect();
      expect(refused.ok, JSON.stringify(refused)).toBe(false);

      const t0 = performance.now();
      await e.spire?.restartAgent("node-a");
      await e.svidsServed(60_000);
      const back = await waitForValue("the tunnel again", async () => {
        const r = await connect();
        return r.ok === true ? r : undefined;
      });
      process.stdout.write(
        `spire-agent restarted to the tunnel working again: ${(performance.now() - t0).toFixed(0)} ms\n`,
      );
      expect(back).toMatchObject({ ok: true, reply: "server:again" });
      expect(await envoyCerts()).toContain(clientSvid);
    }, 120_000);
  },
);
