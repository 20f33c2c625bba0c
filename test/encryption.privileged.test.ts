/**
 * Encryption of auth-required flows end to end, every part real, on this
 * machine's kernel (EncryptionLab: two node namespaces joined by a veth pair;
 * the controller with `--auth-encryption envoy`; a `strait agent` per node,
 * its policy and encrypt map over xDS, SVIDs from the built-in CA's issuer,
 * served to its Envoy over SDS; a real Envoy per node; pods made by the real
 * CNI chain). A CiliumNetworkPolicy on the server requires authentication
 * from the client.
 *
 * The client's connection works at once (no dropped first SYN: the tunnel
 * authenticates in-line), its bytes never cross the link in the clear (a
 * capture on the link sees TLS to the tunnel port only), the server's
 * datapath takes the client's identity from the tunnel's mark, a pod the
 * policy does not allow is still refused, and with the source node's Envoy
 * gone the flow fails closed rather than falling back to plain text.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { agentRequest } from "../src/agent/client.ts";
import type { Flow } from "../src/agent/flows.ts";
import { EncryptionLab, SERVER_PORT } from "./support/encryption-lab.ts";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "./support/kernel.ts";
import { sweepLeftovers } from "./support/netns-lab.ts";
import { waitForValue } from "./support/wait.ts";

const SECRET = "a-line-that-must-never-cross-the-link-in-the-clear";

describe.skipIf(!canRunKernelTests)(
  `encryption of auth-required flows between two nodes ${KERNEL_SKIP_REASON ?? ""}`,
  () => {
    let e: EncryptionLab;

    const flowsOf = async (socket: string) =>
      (await agentRequest(socket, "GET", "/api/v1/flows")).body as Flow[];

    beforeAll(async () => {
      sweepLeftovers();
      e = new EncryptionLab(241, 242, 5);
      await e.start({ encryption: true, policy: true });
    }, 120_000);

    afterAll(async () => {
      await e?.stop();
    });

    it("carries the client's flow through the tunnel at once, never in the clear on the link", async () => {
      const { reply: r, elapsedMs: elapsed, capture } = await e.connectCaptured(SECRET);
      expect(r, JSON.stringify(r)).toMatchObject({ ok: true, reply: `server:${SECRET}` });
      // No dropped first SYN waiting for a handshake (that costs the 1 s retransmission timer).
      expect(elapsed).toBeLessThan(900);
      process.stdout.write(`first SYN to established + echo, encrypted: ${elapsed.toFixed(1)} ms\n`);
      // The capture saw the control datagram (and its ICMP error, which quotes it), and no TCP
      // segment carried the bytes: the tunnelled flow never did.
      expect(Number(capture.needleFrames)).toBeGreaterThan(0);
      expect(capture.needleTcpFrames).toBe(0);
      expect(Number(capture.portSegments)).toBeGreaterThan(0);

      // The server's datapath took the client's identity from the tunnel's mark, authenticated.
      const flows = await flowsOf(e.lab.b.socket);
      const admitted = flows.find(
        (f) =>
          f.eventType === "policy-verdict" &&
          f.destination.port === SERVER_PORT &&
          f.direction === "ingress" &&
          f.verdict === "FORWARDED",
      );
      expect(admitted, JSON.stringify(flows.slice(-5))).toBeDefined();
      const status = (await agentRequest(e.lab.a.socket, "GET", "/api/v1/status")).body as {
        endpoints: { pod: string; identity: number }[];
      };
      const clientIdentity = status.endpoints.find((x) => x.pod === "default/client")?.identity;
      expect(admitted?.source.identity).toBe(clientIdentity);
      // And no auth-required drop: the tunnel is the authentication.
      expect(flows.filter((f) => f.eventType === "auth-required")).toEqual([]);
      // Each agent serves its Envoy its own identities' SVIDs and the bundle, nothing else.
      const sdsOf = async (socket: string) =>
        ((await agentRequest(socket, "GET", "/api/v1/auth")).body as { envoySds?: { secrets: string[] } })
          .envoySds?.secrets;
      const serverIdentity = admitted?.destination.identity;
      expect(await sdsOf(e.lab.b.socket)).toEqual([
        "spiffe://strait.local",
        `spiffe://strait.local/identity/${serverIdentity}`,
      ]);
      expect(await sdsOf(e.lab.a.socket)).toContain(`spiffe://strait.local/identity/${clientIdentity}`);
      expect(await sdsOf(e.lab.a.socket)).not.toContain(`spiffe://strait.local/identity/${serverIdentity}`);
    });

    it("still refuses a pod the policy does not allow", async () => {
      const r = await e.intruder.helper.call("tcpConnect", {
        host: e.server.ip,
        port: SERVER_PORT,
        timeoutMs: 2000,
      });
      expect(r.ok).toBe(false);
    });

    it("fails closed without the source node's Envoy: no fallback to plain text", async () => {
      await e.envoyA?.stop();
      try {
        const r = await e.client.helper.call("tcpConnect", {
          host: e.server.ip,
          port: SERVER_PORT,
          timeoutMs: 2000,
        });
        expect(r.ok).toBe(false);
      } finally {
        await e.restartEnvoyA();
        await waitForValue("the outbound listener again", async () =>
          e.envoyA !== undefined &&
          (await e.listenersOf(e.lab.a, e.envoyA)).includes("strait/encrypt/outbound")
            ? true
            : undefined,
        );
      }
      const again = await e.client.helper.call("tcpConnect", {
        host: e.server.ip,
        port: SERVER_PORT,
        timeoutMs: 5000,
      });
      expect(again).toMatchObject({ ok: true });
    }, 60_000);
  },
);
