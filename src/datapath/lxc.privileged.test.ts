/**
 * C-level tests of bpf/lxc.c: the programs run with BPF_PROG_TEST_RUN on
 * crafted frames, against maps filled through the TypeScript codecs (unpinned,
 * so these tests touch no running agent and can run beside other tests).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { canRunKernelTests, KERNEL_SKIP_REASON } from "../../test/support/kernel.ts";
import { frame, markOf, skbContext, TCP } from "../../test/support/packets.ts";
import { mustParseIpv4 } from "../net/ipv4.ts";
import { type DatapathObject, loadDatapathObject, type MapName } from "./bpf-object.ts";
import { encodeAuthInfo, encodeAuthKey } from "./codecs/auth.ts";
import { counterIndex, encodeCounterKey, sumPerCpu } from "./codecs/counters.ts";
import { decodeCtEntry } from "./codecs/ct.ts";
import { encodeEncryptInfo, encodeEncryptKey } from "./codecs/encrypt.ts";
import { encodeEndpointInfo, encodeEndpointKey } from "./codecs/endpoints.ts";
import { decodeFlowEvent, type RawFlowEvent } from "./codecs/flow-event.ts";
import { encodeIpcacheInfo, encodeIpcacheKey } from "./codecs/ipcache.ts";
import { encodeMeshSvcInfo, encodeMeshSvcKey } from "./codecs/mesh.ts";
import {
  encodePolicyKey,
  encodePolicyValue,
  IPPROTO,
  type PolicyKey,
  type PolicyValue,
} from "./codecs/policy.ts";
import { addon } from "./native.ts";
import { DIR, DROP, EVENT, fromProxyAuthenticatedMark, toProxyMark, VERDICT } from "./reasons.ts";

const TC_ACT_OK = 0;
const TC_ACT_SHOT = 2;

// Pod A (client, endpoint 1, identity 1001) and pod B (server, endpoint 2, identity 1002), both on lo
// (ifindex 1) as far as the test run is concerned; C is a remote pod on another node.
const A = { ip: "10.250.0.1", id: 1, identity: 1001 };
const B = { ip: "10.250.0.2", id: 2, identity: 1002 };
const C = { ip: "10.250.9.9", identity: 2002, node: "192.0.2.10" };

describe.skipIf(!canRunKernelTests)(`bpf/lxc.c under BPF_PROG_TEST_RUN ${KERNEL_SKIP_REASON ?? ""}`, () => {
  let dp: DatapathObject;
  let ring: number;
  let sport = 30000;

  beforeAll(() => {
    dp = loadDatapathObject({ pinRoot: null });
    ring = addon().ringbufOpen(dp.maps.strait_events.info.fd);
  });
  afterAll(() => {
    addon().ringbufClose(ring);
    dp?.close();
  });

  function clear(...names: MapName[]) {
    for (const n of names) for (const k of dp.maps[n].keys()) dp.maps[n].delete(k);
  }

  function endpoint(ep: { ip: string; id: number; identity: number }, ingress: boolean, egress: boolean) {
    dp.maps.strait_endpoints.update(
      encodeEndpointKey(mustParseIpv4(ep.ip)),
      encodeEndpointInfo({
        ifindex: 1,
        identity: ep.identity,
        id: ep.id,
        ingressEnforced: ingress,
        egressEnforced: egress,
      }),
    );
    dp.maps.strait_ipcache.update(
      encodeIpcacheKey({ octets: mustParseIpv4(ep.ip), length: 32 }),
      encodeIpcacheInfo({ identity: ep.identity }),
    );
  }

  function policy(
    key: Partial<PolicyKey> & { endpointId: number; direction: number },
    value: Partial<PolicyValue> = {},
  ) {
    dp.maps.strait_policy.update(
      encodePolicyKey({ identity: 0, protocol: IPPROTO.TCP, port: 0, ...key }),
      encodePolicyValue({ deny: false, authType: 0, proxyPort: 0, ...value }),
    );
  }

  function events(): RawFlowEvent[] {
    return addon()
      .ringbufConsume(ring)
      .map((b) => decodeFlowEvent(b))
      .filter((e): e is RawFlowEvent => e !== undefined);
  }

  function run(program: "from" | "to", spec: Parameters<typeof frame>[0], mark = 0) {
    const fd = program === "from" ? dp.programs.fromEndpoint : dp.programs.toEndpoint;
    const result = addon().progTestRun(fd, frame(spec), skbContext({ mark }), 1);
    expect(result.error).toBe(0);
    return { retval: result.retval, mark: markOf(result.ctx) };
  }

  const tcp = (src: string, dst: string, dport: number, flags: number = TCP.SYN, sp = sport) =>
    ({ src, dst, protocol: "tcp", sport: sp, dport, flags }) as const;

  beforeEach(() => {
    clear(
      "strait_endpoints",
      "strait_ipcache",
      "strait_policy",
      "strait_ct",
      "strait_auth",
      "strait_mesh_svc",
      "strait_encrypt",
    );
    events();
    sport += 1;
  });

  it("allows everything for an endpoint no policy selects, and reports the new flow", () => {
    endpoint(A, false, false);
    expect(run("from", tcp(A.ip, B.ip, 80)).retval).toBe(TC_ACT_OK);
    const [ev] = events();
    expect(ev).toMatchObject({
      type: EVENT.POLICY_VERDICT,
      verdict: VERDICT.FORWARDED,
      direction: DIR.EGRESS,
      source: A.ip,
      destination: B.ip,
      destinationPort: 80,
      sourceIdentity: A.identity,
      destinationIdentity: 2, // B is not in the ipcache here: world
      protocol: 6,
      tcpFlags: TCP.SYN,
      endpointId: A.id,
    });
  });

  it("allows by identity and port, denies the rest by default (TCP and UDP)", () => {
    endpoint(A, false, true);
    endpoint(B, true, false);
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: B.identity, port: 80 });
    policy({
      endpointId: A.id,
      direction: DIR.EGRESS,
      identity: B.identity,
      protocol: IPPROTO.UDP,
      port: 53,
    });
    expect(run("from", tcp(A.ip, B.ip, 80)).retval).toBe(TC_ACT_OK);
    expect(run("from", tcp(A.ip, B.ip, 81, TCP.SYN, sport + 100)).retval).toBe(TC_ACT_SHOT);
    expect(run("from", { src: A.ip, dst: B.ip, protocol: "udp", sport, dport: 53 }).retval).toBe(TC_ACT_OK);
    expect(run("from", { src: A.ip, dst: B.ip, protocol: "udp", sport, dport: 54 }).retval).toBe(TC_ACT_SHOT);
    // To a peer of another identity on the allowed port: denied.
    endpoint({ ip: "10.250.0.3", id: 3, identity: 1003 }, false, false);
    expect(run("from", tcp(A.ip, "10.250.0.3", 80)).retval).toBe(TC_ACT_SHOT);
    const drops = events().filter((e) => e.type === EVENT.DROP);
    expect(drops.map((e) => [e.destinationPort, e.dropReason])).toEqual([
      [81, DROP.POLICY_DEFAULT_DENY],
      [54, DROP.POLICY_DEFAULT_DENY],
      [80, DROP.POLICY_DEFAULT_DENY],
    ]);
    // Ingress side of B: enforced, nothing allows A yet.
    expect(run("to", tcp(A.ip, B.ip, 80, TCP.SYN, sport + 200)).retval).toBe(TC_ACT_SHOT);
    policy({ endpointId: B.id, direction: DIR.INGRESS, identity: A.identity, port: 80 });
    expect(run("to", tcp(A.ip, B.ip, 80, TCP.SYN, sport + 300)).retval).toBe(TC_ACT_OK);
  });

  it("applies deny precedence across identity and port wildcards", () => {
    endpoint(A, false, true);
    endpoint(B, false, false);
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: B.identity, port: 443 });
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: 0, protocol: 0 });
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: 0, port: 443 }, { deny: true });
    // The identity+port allow is more specific than the any+port deny: the deny still wins.
    expect(run("from", tcp(A.ip, B.ip, 443)).retval).toBe(TC_ACT_SHOT);
    expect(run("from", tcp(A.ip, B.ip, 8443)).retval).toBe(TC_ACT_OK);
    expect(events().find((e) => e.type === EVENT.DROP)?.dropReason).toBe(DROP.POLICY_DENIED);
  });

  it("marks a flow for the proxy with 0x0200 | be16(port) << 16, on every packet of the connection", () => {
    endpoint(A, false, true);
    endpoint(B, false, false);
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: B.identity, port: 80 }, { proxyPort: 15001 });
    const syn = run("from", tcp(A.ip, B.ip, 80));
    expect(syn.retval).toBe(TC_ACT_OK);
    expect(syn.mark).toBe(0x993a0200);
    expect(syn.mark).toBe(toProxyMark(15001));
    const ack = run("from", tcp(A.ip, B.ip, 80, TCP.ACK));
    expect(ack.mark).toBe(0x993a0200);
    const [ev] = events();
    expect(ev).toMatchObject({ verdict: VERDICT.REDIRECTED, proxyPort: 15001 });
  });

  it("redirects to the proxy of a local destination's ingress entry at the source", () => {
    endpoint(A, false, false);
    endpoint(B, true, false);
    policy(
      { endpointId: B.id, direction: DIR.INGRESS, identity: A.identity, port: 80 },
      { proxyPort: 15002 },
    );
    expect(run("from", tcp(A.ip, B.ip, 80)).mark).toBe(toProxyMark(15002));
  });

  describe("mesh services (GAMMA)", () => {
    const SVC = { ip: "10.96.0.10", port: 80 };
    const MESH_PORT = 15003;
    const meshKey = (port = SVC.port, protocol: number = IPPROTO.TCP) =>
      encodeMeshSvcKey({ address: SVC.ip, port, protocol });

    it("redirects a new flow to a listed ClusterIP:port to the mesh listener, with a REDIRECTED event and a CT entry", () => {
      endpoint(A, false, false);
      dp.maps.strait_mesh_svc.update(meshKey(), encodeMeshSvcInfo(MESH_PORT));
      const syn = run("from", tcp(A.ip, SVC.ip, SVC.port));
      expect(syn).toEqual({ retval: TC_ACT_OK, mark: toProxyMark(MESH_PORT) });
      expect(events()).toEqual([
        expect.objectContaining({
          type: EVENT.POLICY_VERDICT,
          verdict: VERDICT.REDIRECTED,
          direction: DIR.EGRESS,
          source: A.ip,
          destination: SVC.ip,
          destinationPort: SVC.port,
          sourceIdentity: A.identity,
          destinationIdentity: 2, // a ClusterIP has no identity: world
          proxyPort: MESH_PORT,
          endpointId: A.id,
        }),
      ]);
      const [ctKey] = dp.maps.strait_ct.keys();
      expect(decodeCtEntry(dp.maps.strait_ct.lookup(ctKey as Buffer) as Buffer)).toMatchObject({
        proxyPort: MESH_PORT,
        sourceIdentity: A.identity,
      });
    });

    it("leaves other ports, other addresses and UDP to the same port untouched", () => {
      endpoint(A, false, false);
      dp.maps.strait_mesh_svc.update(meshKey(), encodeMeshSvcInfo(MESH_PORT));
      expect(run("from", tcp(A.ip, SVC.ip, 81))).toEqual({ retval: TC_ACT_OK, mark: 0 });
      expect(run("from", tcp(A.ip, "10.96.0.11", SVC.port))).toEqual({ retval: TC_ACT_OK, mark: 0 });
      const udp = run("from", { src: A.ip, dst: SVC.ip, protocol: "udp", sport, dport: SVC.port });
      expect(udp).toEqual({ retval: TC_ACT_OK, mark: 0 });
      expect(events().map((e) => e.verdict)).toEqual([
        VERDICT.FORWARDED,
        VERDICT.FORWARDED,
        VERDICT.FORWARDED,
      ]);
    });

    it("keeps an established flow's redirect after the entry is removed; new flows then go on untouched", () => {
      endpoint(A, false, false);
      dp.maps.strait_mesh_svc.update(meshKey(), encodeMeshSvcInfo(MESH_PORT));
      expect(run("from", tcp(A.ip, SVC.ip, SVC.port)).mark).toBe(toProxyMark(MESH_PORT));
      clear("strait_mesh_svc");
      expect(run("from", tcp(A.ip, SVC.ip, SVC.port, TCP.ACK)).mark).toBe(toProxyMark(MESH_PORT));
      expect(run("from", tcp(A.ip, SVC.ip, SVC.port, TCP.SYN, sport + 1)).mark).toBe(0);
    });

    it("redirects before the egress policy (which has no identity to decide a ClusterIP on), and passes the listener's replies through CT", () => {
      endpoint(A, true, true); // enforced both ways, nothing allowed
      dp.maps.strait_mesh_svc.update(meshKey(), encodeMeshSvcInfo(MESH_PORT));
      expect(run("from", tcp(A.ip, SVC.ip, SVC.port))).toEqual({
        retval: TC_ACT_OK,
        mark: toProxyMark(MESH_PORT),
      });
      // The listener answers as the ClusterIP (transparent): a reply of the redirected flow.
      expect(run("to", tcp(SVC.ip, A.ip, sport, TCP.SYN | TCP.ACK, SVC.port)).retval).toBe(TC_ACT_OK);
      // Not a mesh service: the egress policy applies as before.
      expect(run("from", tcp(A.ip, SVC.ip, 81)).retval).toBe(TC_ACT_SHOT);
    });
  });

  it("drops a new flow that needs auth while the auth map has no valid entry, with an event carrying the key", () => {
    endpoint(A, false, true);
    dp.maps.strait_ipcache.update(
      encodeIpcacheKey({ octets: mustParseIpv4(C.ip), length: 32 }),
      encodeIpcacheInfo({ identity: C.identity, node: mustParseIpv4(C.node) }),
    );
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: C.identity, port: 443 }, { authType: 1 });
    expect(run("from", tcp(A.ip, C.ip, 443)).retval).toBe(TC_ACT_SHOT);
    const [ev] = events();
    expect(ev).toMatchObject({
      type: EVENT.AUTH_REQUIRED,
      verdict: VERDICT.DROPPED,
      dropReason: DROP.AUTH_REQUIRED,
      sourceIdentity: A.identity,
      destinationIdentity: C.identity,
      remoteNode: C.node,
      authType: 1,
    });
    const key = encodeAuthKey({
      localIdentity: A.identity,
      remoteIdentity: C.identity,
      remoteNode: mustParseIpv4(C.node),
      authType: 1,
    });
    // Expired entry: still dropped.
    dp.maps.strait_auth.update(key, encodeAuthInfo(addon().bootTimeNs() - 1n));
    expect(run("from", tcp(A.ip, C.ip, 443)).retval).toBe(TC_ACT_SHOT);
    // Valid entry: the retransmitted SYN passes.
    dp.maps.strait_auth.update(key, encodeAuthInfo(addon().bootTimeNs() + 60_000_000_000n));
    expect(run("from", tcp(A.ip, C.ip, 443)).retval).toBe(TC_ACT_OK);
  });

  it("passes replies and established packets through connection tracking, without a policy lookup", () => {
    endpoint(A, true, true); // both directions enforced
    endpoint(B, true, true);
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: B.identity, port: 80 });
    expect(run("from", tcp(A.ip, B.ip, 80)).retval).toBe(TC_ACT_OK);
    // B's reply arrives at A (to_endpoint): nothing allows B → A, CT says it is a reply.
    expect(run("to", tcp(B.ip, A.ip, sport, TCP.SYN | TCP.ACK, 80)).retval).toBe(TC_ACT_OK);
    // A new connection from B to A is denied.
    expect(run("to", tcp(B.ip, A.ip, 22, TCP.SYN, 50000)).retval).toBe(TC_ACT_SHOT);
    // Removing the policy entry does not break the established connection, but new ones fail.
    clear("strait_policy");
    expect(run("from", tcp(A.ip, B.ip, 80, TCP.ACK)).retval).toBe(TC_ACT_OK);
    expect(run("from", tcp(A.ip, B.ip, 80, TCP.SYN, sport + 1)).retval).toBe(TC_ACT_SHOT);
    const ctKeys = dp.maps.strait_ct.keys();
    expect(ctKeys.length).toBe(1);
    const entry = decodeCtEntry(dp.maps.strait_ct.lookup(ctKeys[0] as Buffer) as Buffer);
    expect(entry.seenReply).toBe(true);
    expect(entry.packets).toBe(3n);
  });

  it("decides again on a new SYN over the tuple of a closed connection, with the policy of now", () => {
    endpoint(A, true, true);
    endpoint(B, true, true);
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: B.identity, port: 80 });
    expect(run("from", tcp(A.ip, B.ip, 80)).retval).toBe(TC_ACT_OK);
    expect(run("from", tcp(A.ip, B.ip, 80, TCP.FIN | TCP.ACK)).retval).toBe(TC_ACT_OK);
    // The policy now sends that port to the proxy; the client reuses the same source port at once.
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: B.identity, port: 80 }, { proxyPort: 15002 });
    const reopened = run("from", tcp(A.ip, B.ip, 80));
    expect(reopened.retval).toBe(TC_ACT_OK);
    expect(reopened.mark).toBe(toProxyMark(15002));
    // And the rest of that connection follows the new decision.
    expect(run("from", tcp(A.ip, B.ip, 80, TCP.ACK)).mark).toBe(toProxyMark(15002));
    // Denied now: the next SYN on the tuple is dropped, where the old entry would have let it by.
    clear("strait_policy");
    policy({ endpointId: A.id, direction: DIR.EGRESS, identity: 0, port: 443 });
    expect(run("from", tcp(A.ip, B.ip, 80)).retval).toBe(TC_ACT_SHOT);
  });

  it("uses the identity a proxy's upstream connection carries in its mark", () => {
    endpoint(B, true, false);
    policy({ endpointId: B.id, direction: DIR.INGRESS, identity: A.identity, port: 80 });
    const node = "10.250.0.254"; // the proxy connects from the node's address: world, not allowed
    expect(run("to", tcp(node, B.ip, 80)).retval).toBe(TC_ACT_SHOT);
    expect(run("to", tcp(node, B.ip, 80, TCP.SYN, sport + 1), 0x0a00 | (A.identity << 16)).retval).toBe(
      TC_ACT_OK,
    );
  });

  describe("encryption of auth-required flows (model/encryption.ts)", () => {
    const ENCRYPT_PORT = 15004;
    const AUTH = { MTLS_SPIFFE: 1, MTLS_SPIFFE_ENCRYPTED: 3 } as const;

    function remote(pod: { ip: string; identity: number; node: string }) {
      dp.maps.strait_ipcache.update(
        encodeIpcacheKey({ octets: mustParseIpv4(pod.ip), length: 32 }),
        encodeIpcacheInfo({ identity: pod.identity, node: mustParseIpv4(pod.node) }),
      );
    }
    function encrypt(local: number, remoteIdentity: number, port: number | "any") {
      dp.maps.strait_encrypt.update(
        encodeEncryptKey({
          localIdentity: local,
          remoteIdentity,
          port: port === "any" ? 0 : port,
          protocol: IPPROTO.TCP,
        }),
        encodeEncryptInfo(ENCRYPT_PORT),
      );
    }
    function ctEntries() {
      return dp.maps.strait_ct.keys().map((k) => decodeCtEntry(dp.maps.strait_ct.lookup(k) as Buffer));
    }

    it("sends a new flow to a pod of another node found in the encrypt map to the encryption listener, its CT entry keeping the port", () => {
      endpoint(A, false, true);
      remote(C);
      // The egress entry requires encrypted auth: the tunnel meets it, no auth map entry needed.
      policy(
        { endpointId: A.id, direction: DIR.EGRESS, identity: C.identity, port: 443 },
        { authType: AUTH.MTLS_SPIFFE_ENCRYPTED },
      );
      encrypt(A.identity, C.identity, 443);
      const syn = run("from", tcp(A.ip, C.ip, 443));
      expect(syn).toEqual({ retval: TC_ACT_OK, mark: toProxyMark(ENCRYPT_PORT) });
      expect(events()).toEqual([
        expect.objectContaining({
          type: EVENT.POLICY_VERDICT,
          verdict: VERDICT.REDIRECTED,
          direction: DIR.EGRESS,
          sourceIdentity: A.identity,
          destinationIdentity: C.identity,
          proxyPort: ENCRYPT_PORT,
          authType: AUTH.MTLS_SPIFFE_ENCRYPTED,
          remoteNode: C.node,
        }),
      ]);
      expect(ctEntries()).toEqual([
        expect.objectContaining({ proxyPort: ENCRYPT_PORT, sourceIdentity: A.identity }),
      ]);
      // The rest of the connection follows the CT entry, even once the map entry is gone.
      clear("strait_encrypt");
      expect(run("from", tcp(A.ip, C.ip, 443, TCP.ACK)).mark).toBe(toProxyMark(ENCRYPT_PORT));
      // A new flow then goes in the clear, and the destination would refuse it: here the source does.
      const plain = run("from", tcp(A.ip, C.ip, 443, TCP.SYN, sport + 1));
      expect(plain.retval).toBe(TC_ACT_SHOT);
      expect(events().map((e) => [e.type, e.dropReason])).toEqual([[EVENT.DROP, DROP.NOT_ENCRYPTED]]);
    });

    it("looks up the exact port, then any port; other peers, other ports and pods of this node go in the clear", () => {
      endpoint(A, false, false);
      endpoint(B, false, false);
      remote(C);
      const D = { ip: "10.250.9.10", identity: 2003, node: C.node };
      remote(D);
      encrypt(A.identity, C.identity, "any");
      encrypt(A.identity, D.identity, 8080);
      encrypt(A.identity, B.identity, "any"); // B is local: never looked up
      expect(run("from", tcp(A.ip, C.ip, 5432)).mark).toBe(toProxyMark(ENCRYPT_PORT));
      expect(run("from", tcp(A.ip, D.ip, 8080)).mark).toBe(toProxyMark(ENCRYPT_PORT));
      expect(run("from", tcp(A.ip, D.ip, 8081))).toEqual({ retval: TC_ACT_OK, mark: 0 });
      expect(run("from", tcp(A.ip, B.ip, 80))).toEqual({ retval: TC_ACT_OK, mark: 0 });
      const udp = run("from", { src: A.ip, dst: C.ip, protocol: "udp", sport, dport: 53 });
      expect(udp).toEqual({ retval: TC_ACT_OK, mark: 0 });
    });

    it("still applies the egress policy (deny and default deny drop), and wins over the entry's L7 port", () => {
      endpoint(A, false, true);
      remote(C);
      encrypt(A.identity, C.identity, "any");
      expect(run("from", tcp(A.ip, C.ip, 443)).retval).toBe(TC_ACT_SHOT);
      policy(
        { endpointId: A.id, direction: DIR.EGRESS, identity: C.identity, port: 80 },
        { proxyPort: 15001 },
      );
      policy({ endpointId: A.id, direction: DIR.EGRESS, identity: 0, port: 22 }, { deny: true });
      policy({ endpointId: A.id, direction: DIR.EGRESS, identity: C.identity, port: 22 });
      expect(run("from", tcp(A.ip, C.ip, 22)).retval).toBe(TC_ACT_SHOT);
      expect(events().map((e) => e.dropReason)).toEqual([DROP.POLICY_DEFAULT_DENY, DROP.POLICY_DENIED]);
      expect(run("from", tcp(A.ip, C.ip, 80)).mark).toBe(toProxyMark(ENCRYPT_PORT));
    });

    it("takes the identity of the from-proxy-authenticated mark and counts the flow as authenticated", () => {
      endpoint(B, true, false);
      for (const authType of [AUTH.MTLS_SPIFFE, AUTH.MTLS_SPIFFE_ENCRYPTED]) {
        clear("strait_policy", "strait_ct");
        policy({ endpointId: B.id, direction: DIR.INGRESS, identity: C.identity, port: 80 }, { authType });
        // The destination node's Envoy connects from the node's address (world); the auth map is empty.
        const node = "10.250.0.254";
        const mark = fromProxyAuthenticatedMark(C.identity);
        expect(mark).toBe(0x0e00 | (C.identity << 16));
        expect(run("to", tcp(node, B.ip, 80), mark).retval).toBe(TC_ACT_OK);
        // The same mark for an identity the entry does not allow: denied.
        const other = run(
          "to",
          tcp(node, B.ip, 80, TCP.SYN, sport + 1),
          fromProxyAuthenticatedMark(A.identity),
        );
        expect(other.retval).toBe(TC_ACT_SHOT);
        // The plain from-proxy mark names the identity but authenticates nothing.
        const unauthenticated = run(
          "to",
          tcp(node, B.ip, 80, TCP.SYN, sport + 2),
          0x0a00 | (C.identity << 16),
        );
        expect(unauthenticated.retval).toBe(TC_ACT_SHOT);
        expect(events().map((e) => [e.sourceIdentity, e.verdict, e.dropReason, e.authType])).toEqual([
          [C.identity, VERDICT.FORWARDED, DROP.NONE, authType],
          [A.identity, VERDICT.DROPPED, DROP.POLICY_DEFAULT_DENY, 0],
          [C.identity, VERDICT.DROPPED, DROP.AUTH_REQUIRED, AUTH.MTLS_SPIFFE],
        ]);
      }
      // A mark with no identity is ignored: the flow is judged on its address (world here).
      policy({ endpointId: B.id, direction: DIR.INGRESS, identity: 0, port: 81 }, { authType: 1 });
      expect(run("to", tcp("10.250.0.254", B.ip, 81), 0x0e00).retval).toBe(TC_ACT_SHOT);
    });

    it("drops a plaintext flow from a pod of another node to an mtls-spiffe-encrypted entry, with no auth-required event", () => {
      endpoint(B, true, false);
      remote(C);
      policy(
        { endpointId: B.id, direction: DIR.INGRESS, identity: C.identity, port: 80 },
        { authType: AUTH.MTLS_SPIFFE_ENCRYPTED },
      );
      // Not even a valid auth map entry lets it in: only the tunnel does.
      for (const authType of [AUTH.MTLS_SPIFFE, AUTH.MTLS_SPIFFE_ENCRYPTED])
        dp.maps.strait_auth.update(
          encodeAuthKey({
            localIdentity: B.identity,
            remoteIdentity: C.identity,
            remoteNode: mustParseIpv4(C.node),
            authType,
          }),
          encodeAuthInfo(addon().bootTimeNs() + 60_000_000_000n),
        );
      expect(run("to", tcp(C.ip, B.ip, 80)).retval).toBe(TC_ACT_SHOT);
      expect(events()).toEqual([
        expect.objectContaining({
          type: EVENT.DROP,
          verdict: VERDICT.DROPPED,
          dropReason: DROP.NOT_ENCRYPTED,
          direction: DIR.INGRESS,
          sourceIdentity: C.identity,
          destinationIdentity: B.identity,
          authType: AUTH.MTLS_SPIFFE_ENCRYPTED, // the requirement, and the node the flow came from
          remoteNode: C.node,
        }),
      ]);
    });

    it("keeps the auth map check for other protocols under an any-protocol mtls-spiffe-encrypted entry (the tunnel carries TCP only)", () => {
      endpoint(B, true, false);
      remote(C);
      policy(
        { endpointId: B.id, direction: DIR.INGRESS, identity: C.identity, protocol: 0 },
        { authType: AUTH.MTLS_SPIFFE_ENCRYPTED },
      );
      const udp = () => run("to", { src: C.ip, dst: B.ip, protocol: "udp", sport, dport: 53 });
      expect(udp().retval).toBe(TC_ACT_SHOT);
      expect(run("to", tcp(C.ip, B.ip, 80)).retval).toBe(TC_ACT_SHOT);
      expect(events().map((e) => [e.protocol, e.type, e.dropReason, e.authType, e.remoteNode])).toEqual([
        [17, EVENT.AUTH_REQUIRED, DROP.AUTH_REQUIRED, AUTH.MTLS_SPIFFE, C.node],
        [6, EVENT.DROP, DROP.NOT_ENCRYPTED, AUTH.MTLS_SPIFFE_ENCRYPTED, C.node],
      ]);
      dp.maps.strait_auth.update(
        encodeAuthKey({
          localIdentity: B.identity,
          remoteIdentity: C.identity,
          remoteNode: mustParseIpv4(C.node),
          authType: AUTH.MTLS_SPIFFE,
        }),
        encodeAuthInfo(addon().bootTimeNs() + 60_000_000_000n),
      );
      expect(udp().retval).toBe(TC_ACT_OK);
      expect(run("to", tcp(C.ip, B.ip, 80, TCP.SYN, sport + 1)).retval).toBe(TC_ACT_SHOT);
    });

    it("checks a flow between pods of this node to an mtls-spiffe-encrypted entry in the auth map, as mtls-spiffe", () => {
      endpoint(A, false, false);
      endpoint(B, true, false);
      policy(
        { endpointId: B.id, direction: DIR.INGRESS, identity: A.identity, port: 80 },
        { authType: AUTH.MTLS_SPIFFE_ENCRYPTED },
      );
      expect(run("to", tcp(A.ip, B.ip, 80)).retval).toBe(TC_ACT_SHOT);
      expect(events()).toEqual([
        expect.objectContaining({
          type: EVENT.AUTH_REQUIRED,
          dropReason: DROP.AUTH_REQUIRED,
          sourceIdentity: A.identity,
          destinationIdentity: B.identity,
          remoteNode: "0.0.0.0",
          authType: AUTH.MTLS_SPIFFE, // what the auth manager handshakes for
        }),
      ]);
      const key = { localIdentity: B.identity, remoteIdentity: A.identity };
      // An entry of the encrypted type is not what the datapath reads.
      dp.maps.strait_auth.update(
        encodeAuthKey({ ...key, authType: AUTH.MTLS_SPIFFE_ENCRYPTED }),
        encodeAuthInfo(addon().bootTimeNs() + 60_000_000_000n),
      );
      expect(run("to", tcp(A.ip, B.ip, 80)).retval).toBe(TC_ACT_SHOT);
      dp.maps.strait_auth.update(
        encodeAuthKey({ ...key, authType: AUTH.MTLS_SPIFFE }),
        encodeAuthInfo(addon().bootTimeNs() + 60_000_000_000n),
      );
      expect(run("to", tcp(A.ip, B.ip, 80)).retval).toBe(TC_ACT_OK);
    });
  });

  it("drops spoofed sources, unknown destinations and fragments", () => {
    endpoint(A, false, false);
    expect(run("from", tcp("10.250.0.77", B.ip, 80)).retval).toBe(TC_ACT_SHOT);
    expect(run("to", tcp(B.ip, "10.250.0.77", 80)).retval).toBe(TC_ACT_SHOT);
    expect(run("from", { ...tcp(A.ip, B.ip, 80), fragOff: 0x2000 }).retval).toBe(TC_ACT_SHOT);
    expect(events().map((e) => e.dropReason)).toEqual([
      DROP.INVALID_SOURCE,
      DROP.UNKNOWN_ENDPOINT,
      DROP.FRAGMENT,
    ]);
  });

  it("counts packets per CPU by direction, verdict and drop reason", () => {
    const cpus = addon().possibleCpus();
    const read = (dir: number, verdict: number, reason: number) => {
      const raw = dp.maps.strait_counters.lookup(
        encodeCounterKey(counterIndex(dir, verdict, reason)),
        16 * cpus,
      );
      return sumPerCpu(raw as Buffer, cpus).packets;
    };
    const before = read(DIR.EGRESS, VERDICT.DROPPED, DROP.INVALID_SOURCE);
    run("from", tcp("10.250.0.77", B.ip, 80));
    run("from", tcp("10.250.0.78", B.ip, 80));
    expect(read(DIR.EGRESS, VERDICT.DROPPED, DROP.INVALID_SOURCE) - before).toBe(2n);
  });
});
