/**
 * State-of-the-world ADS (StreamAggregatedResources) against a raw client over
 * real gRPC: ACK, NACK, stale nonces, wildcard rules, subscription changes,
 * removals, make-before-break order, reconnects with version_info.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RawAdsClient, type Response } from "../../../test/support/raw-ads-client.ts";
import {
  CDS,
  cluster,
  EDS,
  endpoints,
  LDS,
  listener,
  RDS,
  resourceSet,
  routeConfig,
} from "../../../test/support/xds-fixtures.ts";
import { startXds, type XdsHarness } from "../../../test/support/xds-server-harness.ts";

let xds: XdsHarness;
const clients: RawAdsClient[] = [];

function connect(): RawAdsClient {
  const client = new RawAdsClient(xds.address, "sotw");
  clients.push(client);
  return client;
}

const NODE = { id: "envoy-1", cluster: "test", user_agent_name: "raw-test" };

function config(opts: { aTimeout?: string; withB?: boolean; withC?: boolean; routeTo?: string } = {}) {
  const clusters = [cluster("ns/a:80", opts.aTimeout)];
  const loads = [endpoints("ns/a:80", 8080)];
  if (opts.withB !== false) {
    clusters.push(cluster("ns/b:80"));
    loads.push(endpoints("ns/b:80", 8081));
  }
  if (opts.withC === true) {
    clusters.push(cluster("ns/c:80"));
    loads.push(endpoints("ns/c:80", 8082));
  }
  return resourceSet({
    [CDS]: clusters,
    [EDS]: loads,
    [LDS]: [listener("gw/http", 10080, "gw/http")],
    [RDS]: [routeConfig("gw/http", opts.routeTo ?? "ns/a:80")],
  });
}

const names = (r: Response) => r.resources.map((x) => x.name).sort();

function ack(client: RawAdsClient, r: Response, resourceNames: string[] = []): void {
  client.send({
    type_url: r.typeUrl,
    version_info: r.version,
    response_nonce: r.nonce,
    resource_names: resourceNames,
  });
}

beforeEach(async () => {
  xds = await startXds();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await xds.stop();
});

describe("StreamAggregatedResources (state of the world)", () => {
  it("answers nothing before the first snapshot, then wildcard CDS and named EDS; an ACK gets no response", async () => {
    const client = connect();
    client.send({ node: NODE, type_url: CDS });
    await client.quiet(200);
    xds.cache.publish(config());
    const cds = await client.next();
    expect(cds.typeUrl).toBe(CDS);
    expect(names(cds)).toEqual(["ns/a:80", "ns/b:80"]);
    expect(cds.resources[0]?.json.type).toBe("EDS");
    expect(cds.version).not.toBe("");
    expect(cds.nonce).not.toBe("");
    ack(client, cds);
    client.send({ type_url: EDS, resource_names: ["ns/a:80"] });
    const eds = await client.next();
    expect(names(eds)).toEqual(["ns/a:80"]);
    ack(client, eds, ["ns/a:80"]);
    await client.quiet();
    const status = xds.server.clients()[0];
    expect(status?.node.id).toBe("envoy-1");
    const cdsStatus = status?.types.find((t) => t.type === "CDS");
    expect(cdsStatus?.wildcard).toBe(true);
    expect(cdsStatus?.lastAcked?.version).toBe(cds.version);
  });

  it("pushes CDS as the full state and EDS with only the changed resources", async () => {
    xds.cache.publish(config());
    const client = connect();
    client.send({ node: NODE, type_url: CDS });
    const cds = await client.next();
    ack(client, cds);
    client.send({ type_url: EDS, resource_names: ["ns/a:80", "ns/b:80"] });
    const eds = await client.next();
    expect(names(eds)).toEqual(["ns/a:80", "ns/b:80"]);
    ack(client, eds, ["ns/a:80", "ns/b:80"]);

    xds.cache.publish(config({ aTimeout: "3s" }));
    const cds2 = await client.next();
    expect(cds2.typeUrl).toBe(CDS);
    expect(names(cds2)).toEqual(["ns/a:80", "ns/b:80"]); // LDS/CDS: all of them
    expect(cds2.version).not.toBe(cds.version);
    expect(cds2.resources.find((r) => r.name === "ns/a:80")?.json.connect_timeout).toBe("3s");
    ack(client, cds2);
    await client.quiet(); // endpoints did not change

    const changed = config();
    (changed[EDS] as Map<string, unknown>).set("ns/b:80", endpoints("ns/b:80", 9999));
    xds.cache.publish(changed);
    const cds3 = await client.next(); // a's timeout went back to 10s
    ack(client, cds3);
    const eds2 = await client.next();
    expect(eds2.typeUrl).toBe(EDS);
    expect(names(eds2)).toEqual(["ns/b:80"]); // EDS: only what changed
  });

  it("a NACK is recorded, logged and counted; the rejected version is not sent again, a newer one is", async () => {
    xds.cache.publish(config());
    const client = connect();
    client.send({ node: NODE, type_url: CDS });
    const good = await client.next();
    ack(client, good);
    await client.quiet(100); // the ACK arrives before the change (otherwise it would be stale)
    xds.cache.publish(config({ aTimeout: "3s" }));
    const bad = await client.next();
    client.send({
      type_url: CDS,
      version_info: good.version, // keeps the last accepted version
      response_nonce: bad.nonce,
      error_detail: { code: 3, message: "cluster ns/a:80: connect_timeout too short" },
    });
    await client.quiet(500);
    const cds = xds.server.clients()[0]?.types.find((t) => t.type === "CDS");
    expect(cds?.lastAcked?.version).toBe(good.version);
    expect(cds?.lastNacked?.version).toBe(bad.version);
    expect(cds?.lastNacked?.error).toBe("cluster ns/a:80: connect_timeout too short");
    expect(cds?.nacks).toBe(1);
    expect(await xds.metric("strait_xds_nacks_total", { type: "CDS" })).toBe(1);
    const log = xds.logs.find((l) => l.msg === "xDS client rejected a response (NACK)");
    expect(log).toMatchObject({
      node: "envoy-1",
      type: "CDS",
      version: bad.version,
      error: expect.any(String),
    });
    expect(log?.resources).toEqual(["ns/a:80", "ns/b:80"]);

    xds.cache.publish(config({ aTimeout: "4s" }));
    const newer = await client.next();
    expect(newer.version).not.toBe(bad.version);
    expect(newer.resources.find((r) => r.name === "ns/a:80")?.json.connect_timeout).toBe("4s");
  });

  it("ignores a request with a stale nonce", async () => {
    xds.cache.publish(config());
    const client = connect();
    client.send({ node: NODE, type_url: EDS, resource_names: ["ns/a:80"] });
    const first = await client.next();
    ack(client, first, ["ns/a:80"]);
    xds.cache.publish(config({ withB: true }));
    const changed = config();
    (changed[EDS] as Map<string, unknown>).set("ns/a:80", endpoints("ns/a:80", 7000));
    xds.cache.publish(changed);
    const second = await client.next();
    expect(second.nonce).not.toBe(first.nonce);
    // A request answering the first response arrives after the second was sent: stale, so not a new subscription.
    client.send({
      type_url: EDS,
      version_info: first.version,
      response_nonce: first.nonce,
      resource_names: ["ns/b:80"],
    });
    await client.quiet();
    expect(xds.server.clients()[0]?.types[0]?.names).toBe(1);
    client.send({
      type_url: EDS,
      version_info: second.version,
      response_nonce: second.nonce,
      resource_names: ["ns/b:80"],
    });
    const third = await client.next();
    expect(names(third)).toEqual(["ns/b:80"]);
  });

  it("follows the wildcard rules: legacy empty list, explicit *, named, then empty means nothing", async () => {
    const set = config();
    (set[LDS] as Map<string, unknown>).set("gw/other", listener("gw/other", 10081, "gw/http"));
    xds.cache.publish(set);
    const client = connect();
    client.send({ node: NODE, type_url: LDS });
    const all = await client.next();
    expect(names(all)).toEqual(["gw/http", "gw/other"]);
    client.send({
      type_url: LDS,
      version_info: all.version,
      response_nonce: all.nonce,
      resource_names: ["*", "gw/http"],
    });
    // The wildcard continues; gw/http is newly named, and newly named resources are sent again.
    const again = await client.next();
    expect(names(again)).toEqual(["gw/http", "gw/other"]);
    client.send({
      type_url: LDS,
      version_info: again.version,
      response_nonce: again.nonce,
      resource_names: ["gw/http"],
    });
    await client.quiet(); // unsubscribed from *: the client keeps gw/http, drops the rest itself
    const lds = xds.server.clients()[0]?.types.find((t) => t.type === "LDS");
    expect(lds).toMatchObject({ wildcard: false, names: 1 });
    client.send({
      type_url: LDS,
      version_info: again.version,
      response_nonce: again.nonce,
      resource_names: [],
    });
    await client.quiet();
    expect(xds.server.clients()[0]?.types.find((t) => t.type === "LDS")).toMatchObject({
      wildcard: false,
      names: 0,
    });
    // Not a wildcard any more: a new listener does not reach this client.
    (set[LDS] as Map<string, unknown>).set("gw/third", listener("gw/third", 10082, "gw/http"));
    xds.cache.publish(set);
    await client.quiet();
  });

  it("sends newly named resources on a live stream, also ones sent before", async () => {
    xds.cache.publish(config());
    const client = connect();
    client.send({ node: NODE, type_url: EDS, resource_names: ["ns/a:80"] });
    const one = await client.next();
    ack(client, one, ["ns/a:80", "ns/b:80"]);
    const two = await client.next();
    expect(names(two)).toEqual(["ns/b:80"]);
    ack(client, two, ["ns/b:80"]);
    await client.quiet();
    ack(client, two, ["ns/a:80", "ns/b:80"]);
    const three = await client.next();
    expect(names(three)).toEqual(["ns/a:80"]); // unchanged since it was sent, but newly requested
  });

  it("pushes make before break: new clusters and endpoints, then listeners and routes, then the removal", async () => {
    const client = connect();
    client.send({ node: NODE, type_url: LDS });
    client.send({ type_url: CDS });
    await client.quiet(200);
    xds.cache.publish(config({ withB: true }));
    const cds = await client.next();
    expect(cds.typeUrl).toBe(CDS); // clusters first, whatever the request order
    await client.quiet(200); // listeners wait for the client's answer to the clusters
    ack(client, cds);
    const lds = await client.next();
    expect(lds.typeUrl).toBe(LDS);
    ack(client, lds);
    client.send({ type_url: EDS, resource_names: ["ns/a:80", "ns/b:80"] });
    client.send({ type_url: RDS, resource_names: ["gw/http"] });
    const eds = await client.next();
    ack(client, eds, ["ns/a:80", "ns/b:80"]);
    const rds = await client.next();
    ack(client, rds, ["gw/http"]);
    await client.quiet();

    // The route moves from a to c; b goes away.
    xds.cache.publish(config({ withB: false, withC: true, routeTo: "ns/c:80" }));
    const cdsAdd = await client.next();
    expect(cdsAdd.typeUrl).toBe(CDS);
    expect(names(cdsAdd)).toEqual(["ns/a:80", "ns/b:80", "ns/c:80"]); // b kept until the end
    ack(client, cdsAdd);
    client.send({
      type_url: EDS,
      version_info: eds.version,
      response_nonce: eds.nonce,
      resource_names: ["ns/a:80", "ns/b:80", "ns/c:80"],
    });
    const edsAdd = await client.next();
    expect(edsAdd.typeUrl).toBe(EDS);
    expect(names(edsAdd)).toEqual(["ns/c:80"]);
    ack(client, edsAdd, ["ns/a:80", "ns/b:80", "ns/c:80"]);
    const rdsNew = await client.next();
    expect(rdsNew.typeUrl).toBe(RDS);
    const vhosts = (rdsNew.resources[0]?.json.virtual_hosts ?? []) as {
      routes: { route: { cluster: string } }[];
    }[];
    expect(vhosts[0]?.routes[0]?.route.cluster).toBe("ns/c:80");
    ack(client, rdsNew, ["gw/http"]);
    const cdsRemove = await client.next();
    expect(cdsRemove.typeUrl).toBe(CDS);
    expect(names(cdsRemove)).toEqual(["ns/a:80", "ns/c:80"]); // absent from the full state: removed
    expect(cdsRemove.version).not.toBe(cdsAdd.version);
  });

  it("on reconnect, a client reporting the version it would get is sent nothing; otherwise everything", async () => {
    xds.cache.publish(config());
    const first = connect();
    first.send({ node: NODE, type_url: CDS });
    const cds = await first.next();
    ack(first, cds);
    first.send({ type_url: EDS, resource_names: ["ns/a:80"] });
    const eds = await first.next();
    first.close();

    const again = connect();
    again.send({ node: NODE, type_url: CDS, version_info: cds.version });
    again.send({ type_url: EDS, version_info: eds.version, resource_names: ["ns/a:80"] });
    await again.quiet();
    const status = xds.server.clients().find((c) => c.types.length === 2);
    expect(status?.types.find((t) => t.type === "CDS")?.lastAcked?.version).toBe(cds.version);

    const wider = connect();
    wider.send({
      node: NODE,
      type_url: EDS,
      version_info: eds.version,
      resource_names: ["ns/a:80", "ns/b:80"],
    });
    expect(names(await wider.next())).toEqual(["ns/a:80", "ns/b:80"]);
    const stale = connect();
    stale.send({ node: NODE, type_url: CDS, version_info: "some-older-version" });
    expect(names(await stale.next())).toEqual(["ns/a:80", "ns/b:80"]);
  });

  it("sends clients in the same position the same response (encoded once), and a stream never the same nonce twice", async () => {
    xds.cache.publish(config());
    const one = connect();
    const two = connect();
    for (const c of [one, two]) c.send({ node: NODE, type_url: EDS, resource_names: ["ns/a:80", "ns/b:80"] });
    const [first1, first2] = [await one.next(), await two.next()];
    expect(first2.nonce).toBe(first1.nonce);
    ack(one, first1, ["ns/a:80", "ns/b:80"]);
    ack(two, first2, ["ns/a:80", "ns/b:80"]);
    await one.quiet(100);
    const changed = config();
    (changed[EDS] as Map<string, unknown>).set("ns/a:80", endpoints("ns/a:80", 7001));
    xds.cache.publish(changed);
    const [next1, next2] = [await one.next(), await two.next()];
    expect(next1.nonce).toBe(next2.nonce);
    expect(next1.nonce).not.toBe(first1.nonce);
    expect(names(next1)).toEqual(["ns/a:80"]);
  });

  it("a listener that goes away is absent from the next LDS response; a named missing one gets an empty answer", async () => {
    xds.cache.publish(config());
    const client = connect();
    client.send({ node: NODE, type_url: LDS, resource_names: ["gw/http", "gw/missing"] });
    const lds = await client.next();
    expect(names(lds)).toEqual(["gw/http"]);
    ack(client, lds, ["gw/http", "gw/missing"]);
    const without = config();
    (without[LDS] as Map<string, unknown>).clear();
    xds.cache.publish(without);
    const removed = await client.next();
    expect(removed.typeUrl).toBe(LDS);
    expect(removed.resources).toEqual([]);
  });
});
