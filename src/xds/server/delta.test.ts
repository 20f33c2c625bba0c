/**
 * Incremental ADS (DeltaAggregatedResources) against a raw client over real
 * gRPC: per-resource versions, only changed resources, removed_resources,
 * subscribe/unsubscribe, does-not-exist, initial_resource_versions on
 * reconnect, NACK, and the wildcard-plus-name unsubscription rule.
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
import { ACK_WAIT_MS } from "./ads-stream.ts";

let xds: XdsHarness;
const clients: RawAdsClient[] = [];

function connect(): RawAdsClient {
  const client = new RawAdsClient(xds.address, "delta");
  clients.push(client);
  return client;
}

const NODE = { id: "envoy-delta", cluster: "test" };

function config(clusters: Record<string, string>, route = "ns/a:80") {
  return resourceSet({
    [CDS]: Object.entries(clusters).map(([name, timeout]) => cluster(name, timeout)),
    [EDS]: Object.keys(clusters).map((name, i) => endpoints(name, 8080 + i)),
    [LDS]: [listener("gw/http", 10080, "gw/http")],
    [RDS]: [routeConfig("gw/http", route)],
  });
}

const names = (r: Response) => r.resources.map((x) => x.name).sort();
const ack = (client: RawAdsClient, r: Response) =>
  client.send({ type_url: r.typeUrl, response_nonce: r.nonce });

beforeEach(async () => {
  xds = await startXds();
});

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await xds.stop();
});

describe("DeltaAggregatedResources (incremental)", () => {
  it("sends each resource with its version, then only what changed; removals in removed_resources", async () => {
    xds.cache.publish(config({ "ns/a:80": "10s", "ns/b:80": "10s" }));
    const client = connect();
    client.send({ node: NODE, type_url: CDS }); // legacy wildcard
    const first = await client.next();
    expect(names(first)).toEqual(["ns/a:80", "ns/b:80"]);
    expect(first.resources.every((r) => typeof r.version === "string" && r.version !== "")).toBe(true);
    ack(client, first);
    await client.quiet();

    xds.cache.publish(config({ "ns/a:80": "3s", "ns/b:80": "10s" }));
    const changed = await client.next();
    expect(names(changed)).toEqual(["ns/a:80"]);
    expect(changed.removed).toEqual([]);
    expect(changed.resources[0]?.version).not.toBe(
      first.resources.find((r) => r.name === "ns/a:80")?.version,
    );
    ack(client, changed);

    xds.cache.publish(config({ "ns/a:80": "3s" }));
    const removed = await client.next();
    expect(removed.resources).toEqual([]);
    expect(removed.removed).toEqual(["ns/b:80"]);
    ack(client, removed);
    await client.quiet();
  });

  it("subscribes and unsubscribes named resources; a name that does not exist is reported removed at once", async () => {
    xds.cache.publish(config({ "ns/a:80": "10s", "ns/b:80": "10s" }));
    const client = connect();
    client.send({ node: NODE, type_url: EDS, resource_names_subscribe: ["ns/a:80", "ns/nope:80"] });
    const first = await client.next();
    expect(names(first)).toEqual(["ns/a:80"]);
    expect(first.removed).toEqual(["ns/nope:80"]);
    ack(client, first);
    client.send({
      type_url: EDS,
      resource_names_subscribe: ["ns/b:80"],
      resource_names_unsubscribe: ["ns/a:80"],
    });
    const second = await client.next();
    expect(names(second)).toEqual(["ns/b:80"]);
    expect(second.removed).toEqual([]);
    ack(client, second);
    // Unsubscribed from a: its changes no longer reach this client.
    const changed = config({ "ns/a:80": "10s", "ns/b:80": "10s" });
    (changed[EDS] as Map<string, unknown>).set("ns/a:80", endpoints("ns/a:80", 7777));
    xds.cache.publish(changed);
    await client.quiet();
    // Subscribing again sends it again.
    client.send({ type_url: EDS, resource_names_subscribe: ["ns/a:80"] });
    const again = await client.next();
    expect(names(again)).toEqual(["ns/a:80"]);
    // A name that comes into existence later is sent then.
    ack(client, again);
    const grown = config({ "ns/a:80": "10s", "ns/b:80": "10s", "ns/nope:80": "10s" });
    (grown[EDS] as Map<string, unknown>).set("ns/a:80", endpoints("ns/a:80", 7777));
    xds.cache.publish(grown);
    const created = await client.next(); // still subscribed: sent when it springs into existence
    expect(names(created)).toEqual(["ns/nope:80"]);
  });

  it("honours initial_resource_versions on reconnect: sends only what differs, removes what is gone", async () => {
    xds.cache.publish(config({ "ns/a:80": "10s", "ns/b:80": "10s" }));
    const first = connect();
    first.send({ node: NODE, type_url: CDS });
    const known = await first.next();
    first.close();
    const versions = Object.fromEntries(known.resources.map((r) => [r.name, r.version]));

    const same = connect();
    same.send({ node: NODE, type_url: CDS, initial_resource_versions: versions });
    await same.quiet(); // the controller restarted with the same configuration: nothing new

    xds.cache.publish(config({ "ns/a:80": "5s", "ns/c:80": "10s" }));
    const other = connect();
    other.send({ node: NODE, type_url: CDS, initial_resource_versions: versions });
    const update = await other.next();
    expect(names(update)).toEqual(["ns/a:80", "ns/c:80"]);
    ack(other, update);
    const removal = await other.next();
    expect(removal.removed).toEqual(["ns/b:80"]);
  });

  it("a NACK is recorded and the rejected version is not resent", async () => {
    xds.cache.publish(config({ "ns/a:80": "10s" }));
    const client = connect();
    client.send({ node: NODE, type_url: CDS });
    const first = await client.next();
    client.send({
      type_url: CDS,
      response_nonce: first.nonce,
      error_detail: { code: 3, message: "rejected for the test" },
    });
    await client.quiet(400);
    const status = xds.server.clients()[0]?.types[0];
    expect(status?.lastNacked).toMatchObject({ version: first.version, error: "rejected for the test" });
    expect(status?.lastNacked?.resources).toEqual(["ns/a:80"]);
    expect(await xds.metric("strait_xds_nacks_total", { type: "CDS" })).toBe(1);
  });

  it("honours subscription changes that carry a stale nonce", async () => {
    xds.cache.publish(config({ "ns/a:80": "10s", "ns/b:80": "10s" }));
    const client = connect();
    client.send({ node: NODE, type_url: EDS, resource_names_subscribe: ["ns/a:80"] });
    const first = await client.next();
    ack(client, first);
    await client.quiet(100);
    const changed = config({ "ns/a:80": "10s", "ns/b:80": "10s" });
    (changed[EDS] as Map<string, unknown>).set("ns/a:80", endpoints("ns/a:80", 7000));
    xds.cache.publish(changed);
    const second = await client.next();
    client.send({ type_url: EDS, response_nonce: first.nonce, resource_names_subscribe: ["ns/b:80"] });
    const third = await client.next();
    expect(second.nonce).not.toBe(third.nonce);
    expect(names(third)).toEqual(["ns/b:80"]);
  });

  it("with a wildcard and a name, unsubscribing the name says whether the wildcard still covers it", async () => {
    const set = config({ "ns/a:80": "10s" });
    xds.cache.publish(set);
    xds.cache.retain(CDS, []); // no on-demand resolver here
    const client = connect();
    client.send({ node: NODE, type_url: CDS });
    const all = await client.next();
    ack(client, all);
    client.send({ type_url: CDS, resource_names_subscribe: ["ns/a:80", "ns/extra:80"] });
    const named = await client.next();
    expect(names(named)).toEqual(["ns/a:80"]);
    expect(named.removed).toEqual(["ns/extra:80"]);
    ack(client, named);
    client.send({ type_url: CDS, resource_names_unsubscribe: ["ns/a:80", "ns/extra:80"] });
    const answer = await client.next();
    expect(names(answer)).toEqual(["ns/a:80"]); // still in the wildcard: keep it
    expect(answer.removed).toEqual(["ns/extra:80"]); // not in the wildcard: drop it
  });

  it("pushes make before break: clusters and endpoints, then routes, then removals", async () => {
    xds.cache.publish(config({ "ns/a:80": "10s", "ns/b:80": "10s" }));
    const client = connect();
    client.send({ node: NODE, type_url: CDS });
    ack(client, await client.next());
    client.send({ type_url: EDS, resource_names_subscribe: ["ns/a:80", "ns/b:80"] });
    ack(client, await client.next());
    client.send({ type_url: RDS, resource_names_subscribe: ["gw/http"] });
    ack(client, await client.next());
    await client.quiet();

    xds.cache.publish(config({ "ns/a:80": "10s", "ns/c:80": "10s" }, "ns/c:80"));
    const cds = await client.next();
    expect(cds.typeUrl).toBe(CDS);
    expect(names(cds)).toEqual(["ns/c:80"]);
    expect(cds.removed).toEqual([]);
    ack(client, cds);
    client.send({ type_url: EDS, resource_names_subscribe: ["ns/c:80"] });
    const eds = await client.next();
    expect(eds.typeUrl).toBe(EDS);
    expect(names(eds)).toEqual(["ns/c:80"]);
    ack(client, eds);
    const rds = await client.next();
    expect(rds.typeUrl).toBe(RDS);
    ack(client, rds);
    const removals = [await client.next()];
    ack(client, removals[0] as Response);
    removals.push(await client.next());
    // Users before what they use: the endpoints' removal, then the cluster's.
    expect(removals.map((r) => [r.typeUrl, r.removed])).toEqual([
      [EDS, ["ns/b:80"]],
      [CDS, ["ns/b:80"]],
    ]);
  });

  it("sends new clusters' endpoints as soon as they are subscribed to, before the CDS ACK (Envoy holds it while they warm)", async () => {
    xds.cache.publish(config({ "ns/a:80": "10s" }));
    const client = connect();
    client.send({ node: NODE, type_url: CDS });
    ack(client, await client.next());
    client.send({ type_url: EDS, resource_names_subscribe: ["ns/a:80"] });
    ack(client, await client.next());
    client.send({ type_url: RDS, resource_names_subscribe: ["gw/http"] });
    ack(client, await client.next());
    await client.quiet();

    xds.cache.publish(config({ "ns/a:80": "10s", "ns/c:80": "10s" }, "ns/c:80"));
    const cds = await client.next();
    expect(names(cds)).toEqual(["ns/c:80"]);
    // As Envoy does: no ACK yet, only the subscription to the new cluster's endpoints.
    const asked = Date.now();
    client.send({ type_url: EDS, resource_names_subscribe: ["ns/c:80"] });
    const eds = await client.next();
    expect(eds.typeUrl).toBe(EDS);
    expect(names(eds)).toEqual(["ns/c:80"]);
    expect(Date.now() - asked).toBeLessThan(ACK_WAIT_MS / 2);
    // Routes still wait for the endpoints' answer.
    await client.quiet(200);
    ack(client, eds);
    expect((await client.next()).typeUrl).toBe(RDS);
  });
});
