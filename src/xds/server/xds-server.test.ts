/**
 * The server's edges: bad input, limits, a client that never reads, TLS with
 * client certificates. Each misbehaving client gets a clear status or is cut
 * off, and a well-behaved client on the same server keeps being served.
 */
import { connect as http2Connect } from "node:http2";
import { credentials, status } from "@grpc/grpc-js";
import { afterEach, describe, expect, it } from "vitest";
import { createCa, createSigned } from "../../../conformance/certificates.ts";
import { RawAdsClient } from "../../../test/support/raw-ads-client.ts";
import { CDS, cluster, resourceSet } from "../../../test/support/xds-fixtures.ts";
import { startXds, type XdsHarness } from "../../../test/support/xds-server-harness.ts";
import { findType, messageFromJson } from "../proto/index.ts";

let xds: XdsHarness | undefined;
const clients: RawAdsClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await xds?.stop();
  xds = undefined;
});

function client(harness: XdsHarness, mode: "sotw" | "delta" = "sotw", creds = credentials.createInsecure()) {
  const c = new RawAdsClient(harness.address, mode, creds);
  clients.push(c);
  return c;
}

const clusters = (n: number, timeout = "10s") =>
  resourceSet({ [CDS]: Array.from({ length: n }, (_, i) => cluster(`ns/service-${i}:80`, timeout)) });

/** A healthy client on the same server still gets a change. */
async function stillServed(harness: XdsHarness, healthy: RawAdsClient): Promise<void> {
  harness.cache.publish(clusters(1, "7s"));
  const update = await healthy.next();
  expect(update.resources[0]?.json.connect_timeout).toBe("7s");
}

describe("XdsServer", () => {
  it("ends a stream that sends a malformed request or a bad type URL with INVALID_ARGUMENT, and only that one", async () => {
    xds = await startXds();
    xds.cache.publish(clusters(1));
    const healthy = client(xds);
    healthy.send({ node: { id: "healthy" }, type_url: CDS });
    const first = await healthy.next();
    healthy.send({ type_url: CDS, response_nonce: first.nonce, version_info: first.version });

    const garbage = client(xds);
    garbage.sendRaw(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    expect(await garbage.ended).toMatchObject({ code: status.INVALID_ARGUMENT });
    const badType = client(xds, "delta");
    badType.send({ node: { id: "bad" }, type_url: "not a type url" });
    const ended = await badType.ended;
    expect(ended.code).toBe(status.INVALID_ARGUMENT);
    expect(ended.details).toContain("is not a type URL");
    await stillServed(xds, healthy);
  });

  it("answers a type URL it does not serve with an empty response and keeps the stream", async () => {
    xds = await startXds();
    xds.cache.publish(clusters(1));
    const c = client(xds);
    const runtime = "type.googleapis.com/envoy.service.runtime.v3.Runtime";
    c.send({ node: { id: "n" }, type_url: runtime, resource_names: ["rtds"] });
    const empty = await c.next();
    expect(empty).toMatchObject({ typeUrl: runtime, resources: [] });
    c.send({ type_url: runtime, resource_names: ["rtds"], response_nonce: empty.nonce });
    c.send({ type_url: CDS });
    expect((await c.next()).typeUrl).toBe(CDS);
  });

  it("refuses streams past --xds-max-streams, and subscriptions past the per-stream limit", async () => {
    xds = await startXds({ limits: { maxStreams: 2, maxSubscriptionsPerStream: 3 } });
    xds.cache.publish(clusters(1));
    const healthy = client(xds);
    healthy.send({ node: { id: "healthy" }, type_url: CDS });
    const first = await healthy.next();
    healthy.send({ type_url: CDS, response_nonce: first.nonce, version_info: first.version });

    const greedy = client(xds, "delta");
    greedy.send({ node: { id: "greedy" }, type_url: CDS, resource_names_subscribe: ["a", "b", "c", "d"] });
    const limited = await greedy.ended;
    expect(limited.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(limited.details).toContain("more than the limit of 3");

    const second = client(xds);
    second.send({ node: { id: "second" }, type_url: CDS });
    await second.next();
    const third = client(xds);
    third.send({ node: { id: "third" }, type_url: CDS });
    const refused = await third.ended;
    expect(refused.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(refused.details).toContain("at most 2 xDS streams");
    expect(await xds.metric("strait_xds_closed_streams_total", { reason: "limit" })).toBe(2);
    await stillServed(xds, healthy);
  });

  it("refuses a request larger than --xds-max-message-bytes", async () => {
    xds = await startXds({ limits: { maxMessageBytes: 1024 } });
    xds.cache.publish(clusters(1));
    const big = client(xds);
    big.send({
      node: { id: "big" },
      type_url: CDS,
      resource_names: Array.from({ length: 300 }, (_, i) => `name-${i}`),
    });
    const ended = await big.ended;
    expect(ended.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(ended.details).toMatch(/larger than max \(\d+ vs 1024\)/);
  });

  it("cuts off a client that stops reading, without holding up the others", async () => {
    xds = await startXds({ limits: { writeTimeoutMs: 300 } });
    xds.cache.publish(clusters(2000)); // a CDS response far larger than one HTTP/2 window
    const healthy = client(xds);
    healthy.send({ node: { id: "healthy" }, type_url: CDS });
    const first = await healthy.next();
    healthy.send({ type_url: CDS, response_nonce: first.nonce, version_info: first.version });

    // A raw HTTP/2 client that asks, then never reads.
    const session = http2Connect(`http://${xds.address}`);
    session.on("error", () => {});
    const stream = session.request({
      ":method": "POST",
      ":path": "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources",
      "content-type": "application/grpc",
      te: "trailers",
    });
    stream.on("error", () => {});
    stream.pause();
    const requestType = findType("envoy.service.discovery.v3.DiscoveryRequest");
    const { message } = messageFromJson(requestType as NonNullable<typeof requestType>, {
      node: { id: "sleeper" },
      type_url: CDS,
    });
    const body = Buffer.from(
      (requestType as NonNullable<typeof requestType>).encode(message as object).finish(),
    );
    const frame = Buffer.alloc(5 + body.length);
    frame.writeUInt32BE(body.length, 1);
    body.copy(frame, 5);
    stream.write(frame);
    const closed = new Promise<void>((resolve) => session.on("close", () => resolve()));
    await closed;
    expect(await xds.metric("strait_xds_closed_streams_total", { reason: "slow" })).toBe(1);
    expect(xds.logs.some((l) => l.msg.startsWith("xDS client did not take a response in time"))).toBe(true);
    expect(xds.server.clients().map((c) => c.node.id)).toEqual(["healthy"]);
    await stillServed(xds, healthy);
  });

  it("serves TLS to clients with a certificate from the client CA, and refuses the others", async () => {
    const ca = await createCa("strait xds test CA");
    const serverCert = await createSigned(ca, "strait-xds", ["127.0.0.1"], false);
    const clientCert = await createSigned(ca, "envoy", [], true);
    const otherCa = await createCa("another CA");
    const stranger = await createSigned(otherCa, "stranger", [], true);
    xds = await startXds({
      tls: {
        cert: Buffer.from(serverCert.certPem),
        key: Buffer.from(serverCert.keyPem),
        clientCa: Buffer.from(ca.certPem),
      },
    });
    xds.cache.publish(clusters(1));
    const root = Buffer.from(ca.certPem);
    const trusted = client(
      xds,
      "sotw",
      credentials.createSsl(root, Buffer.from(clientCert.keyPem), Buffer.from(clientCert.certPem)),
    );
    trusted.send({ node: { id: "trusted" }, type_url: CDS });
    expect((await trusted.next()).resources).toHaveLength(1);

    const anonymous = client(xds, "sotw", credentials.createSsl(root));
    anonymous.send({ node: { id: "anonymous" }, type_url: CDS });
    expect((await anonymous.ended).code).toBe(status.UNAVAILABLE);
    const untrusted = client(
      xds,
      "sotw",
      credentials.createSsl(root, Buffer.from(stranger.keyPem), Buffer.from(stranger.certPem)),
    );
    untrusted.send({ node: { id: "untrusted" }, type_url: CDS });
    expect((await untrusted.ended).code).toBe(status.UNAVAILABLE);
    const plaintext = client(xds);
    plaintext.send({ node: { id: "plaintext" }, type_url: CDS });
    expect((await plaintext.ended).code).toBe(status.UNAVAILABLE);
    expect(xds.server.clients().map((c) => c.node.id)).toEqual(["trusted"]);
  });
});
