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
 * identity's under strait's selector.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRequest } from "../src/agent/client.ts";
import type { Flow } from "../src/agent/flows.ts";
import { EncryptionLab, SERVER_PORT } from "./support/encryption-lab.ts";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "./support/kernel.ts";
import { sweepLeftovers } from "./support/netns-lab.ts";
import { spireBinaries } from "./support/spire.ts";

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
  },
);
