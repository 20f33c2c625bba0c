import { afterEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../../test/support/capture-logger.ts";
import { EVENT } from "../../../test/support/kube-apiserver/resources.ts";
import { KubeApiServer } from "../../../test/support/kube-apiserver/server.ts";
import { EventRecorder, type EventSpec } from "./event-recorder.ts";
import { KubeClient, loadKubeConfig } from "./kube-client.ts";

const servers: KubeApiServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

const spec = (
  name: string,
  note = "endpoint :8080 left out: address: must be at least 1 characters long",
): EventSpec => ({
  regarding: { apiVersion: "discovery.k8s.io/v1", kind: "EndpointSlice", namespace: "shop", name },
  type: "Warning",
  reason: "InvalidEndpoint",
  action: "Translate",
  note,
});

async function recorder(
  clock: { now: number },
  windowMs = 60_000,
  timing: { heartbeatMs?: number; eventTtlMs?: number } = {},
) {
  const server = await KubeApiServer.start({
    now: () => clock.now,
    ...(timing.eventTtlMs === undefined ? {} : { eventTtlMs: timing.eventTtlMs }),
  });
  servers.push(server);
  const { logger, lines } = captureLogger();
  const events = new EventRecorder({
    client: new KubeClient(loadKubeConfig(server.kubeconfig).config),
    controller: "strait.dev/gateway-controller",
    instance: "test",
    logger,
    seriesWindowMs: windowMs,
    ...(timing.heartbeatMs === undefined ? {} : { heartbeatMs: timing.heartbeatMs }),
    now: () => new Date(clock.now),
  });
  const writes = () =>
    server.requests
      .filter((r) => r.path.startsWith("/apis/events.k8s.io/"))
      .map((r) => `${r.method} ${r.status}`);
  const list = () => {
    server.expireEvents();
    return server.storage.list(EVENT, "shop");
  };
  return { server, events, writes, lines, list };
}

describe("EventRecorder (events.k8s.io/v1 against the test API server)", () => {
  it("writes a problem that holds once, whatever the number of passes, and one Event per distinct problem", async () => {
    const clock = { now: Date.parse("2026-12-03T10:00:00Z") };
    const { events, writes, list } = await recorder(clock);
    await events.record([spec("a"), spec("a")]);
    await events.record([spec("a")]);
    await events.record([spec("a"), spec("b")]);
    expect(writes()).toEqual(["POST 201", "POST 201"]);
    expect(list().map((e) => [e.regarding, e.reportingController, e.eventTime])).toEqual([
      [spec("a").regarding, "strait.dev/gateway-controller", "2026-12-03T10:00:00.000000Z"],
      [spec("b").regarding, "strait.dev/gateway-controller", "2026-12-03T10:00:00.000000Z"],
    ]);
  });

  it("counts a recurrence within the window in the Event's series, and starts a new Event after it or when the Event is gone", async () => {
    const clock = { now: Date.parse("2026-12-03T10:00:00Z") };
    const { server, events, writes, list } = await recorder(clock);
    await events.record([spec("a")]);
    await events.record([]);
    clock.now += 10_000;
    await events.record([spec("a")]);
    await events.record([]);
    clock.now += 10_000;
    await events.record([spec("a")]);
    expect(writes()).toEqual(["POST 201", "PATCH 200", "PATCH 200"]);
    expect(list()).toHaveLength(1);
    expect(list()[0]?.series).toEqual({ count: 3, lastObservedTime: "2026-12-03T10:00:20.000000Z" });

    // Past the window: a new Event.
    await events.record([]);
    clock.now += 120_000;
    await events.record([spec("a")]);
    expect(list()).toHaveLength(2);

    // The Event expired (deleted): created again instead of patched.
    await events.record([]);
    const newest = list().find(
      (e) => e.series === undefined && e.eventTime === "2026-12-03T10:02:20.000000Z",
    );
    server.delete("Event", "shop", String(newest?.metadata.name));
    clock.now += 1_000;
    await events.record([spec("a")]);
    expect(writes().slice(-2)).toEqual(["PATCH 404", "POST 201"]);
    expect(list()).toHaveLength(2);
  });

  it("cuts a note longer than 1 kB, and logs a failed write and tries it again with the next pass", async () => {
    const clock = { now: Date.parse("2026-12-03T10:00:00Z") };
    const { server, events, list, writes, lines } = await recorder(clock);
    await events.record([spec("a", "x".repeat(5000))]);
    expect(String(list()[0]?.note).length).toBe(1024);
    // The API refuses Events for a while (here: the kind unserved): logged, and tried again with the next pass.
    server.setServed("Event", false);
    await events.record([spec("a", "x".repeat(5000)), spec("b")]);
    expect(lines.some((l) => l.msg === "event not written")).toBe(true);
    expect(writes().at(-1)).toBe("POST 404");
    server.setServed("Event", true);
    await events.record([spec("a", "x".repeat(5000)), spec("b")]);
    expect(writes().at(-1)).toBe("POST 201");
    expect(list()).toHaveLength(2);
  });

  it("writes a problem that holds again before the API server's Event TTL (a heartbeat), so its Event outlives the TTL", async () => {
    const MIN = 60_000;
    const clock = { now: Date.parse("2026-12-03T10:00:00Z") };
    const { events, writes, list } = await recorder(clock, 60_000, {
      heartbeatMs: 30 * MIN,
      eventTtlMs: 60 * MIN,
    });
    await events.record([spec("a")]);
    const name = list()[0]?.metadata.name;
    clock.now += 29 * MIN;
    await events.heartbeat();
    await events.record([spec("a")]); // a pass before the heartbeat is due: nothing written
    expect(writes()).toEqual(["POST 201"]);
    clock.now += MIN;
    await events.heartbeat();
    expect(writes()).toEqual(["POST 201", "PATCH 200"]);
    expect(list()[0]?.series).toEqual({ count: 2, lastObservedTime: "2026-12-03T10:30:00.000000Z" });
    // Three hours more with no pass, three times the TTL: the heartbeats keep the one Event.
    for (let i = 0; i < 6; i++) {
      clock.now += 30 * MIN;
      await events.heartbeat();
    }
    expect(writes().slice(2)).toEqual(Array(6).fill("PATCH 200"));
    expect(list().map((e) => [e.metadata.name, e.series])).toEqual([
      [name, { count: 8, lastObservedTime: "2026-12-03T13:30:00.000000Z" }],
    ]);
    // A pass that is due writes the heartbeat too.
    clock.now += 30 * MIN;
    await events.record([spec("a")]);
    expect(writes().at(-1)).toBe("PATCH 200");

    // The problem went away: no more heartbeats, and the Event lapses with the TTL.
    await events.record([]);
    const before = writes().length;
    clock.now += 30 * MIN;
    await events.heartbeat();
    expect(writes()).toHaveLength(before);
    clock.now += 31 * MIN;
    expect(list()).toEqual([]);
  });

  it("without a heartbeat before the TTL, the Event expires while its problem holds; a heartbeat after it creates a new one", async () => {
    const MIN = 60_000;
    const clock = { now: Date.parse("2026-12-03T10:00:00Z") };
    const { events, writes, list } = await recorder(clock, 60_000, {
      heartbeatMs: 90 * MIN,
      eventTtlMs: 60 * MIN,
    });
    await events.record([spec("a")]);
    clock.now += 61 * MIN;
    await events.record([spec("a")]);
    expect(list()).toEqual([]); // what the recorder did before heartbeats: the problem holds, nothing shows it
    clock.now += 29 * MIN;
    await events.heartbeat();
    expect(writes()).toEqual(["POST 201", "PATCH 404", "POST 201"]);
    expect(list()).toHaveLength(1);
  });
});
