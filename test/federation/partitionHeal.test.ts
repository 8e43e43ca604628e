// Issue 16: federation picks up at once when a partition heals, and a long outage costs no long
// wait. Two real servers and no third to relay; their clocks run fast through the clock offset
// files while the link is cut, so the backoffs grow as in a long outage without the wait.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Federation } from "../helpers/federation.js";
import { twoServerRoom } from "../helpers/federatedRoom.js";
import { removeStoreFolders, syncUntil, texts, type TestClient } from "../helpers/sdkClients.js";

const MINUTE = 60_000;
/** Backoffs as configured by default (1 s doubling to 1 h); only the probe interval is short. */
const ENV = {
  MYELIN_FEDERATION_RETRY_INITIAL_MS: "1000",
  MYELIN_FEDERATION_RETRY_MAX_MS: "3600000",
  MYELIN_FEDERATION_PROBE_INTERVAL_MS: "2000",
};

/** Moves both servers' clocks forward `speed` times faster than real time until stopped. */
function fastClocks(federation: Federation, speed: number): () => void {
  const tickMs = 100;
  const timer = setInterval(() => {
    for (const server of federation.servers) server.advanceClock(tickMs * (speed - 1));
  }, tickMs);
  return () => clearInterval(timer);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("a 10-minute partition between two servers, then the heal", () => {
  let federation: Federation;
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;
  const fromAlice = ["before the cut from alice"];
  const fromBob = ["before the cut from bob"];
  let arrivalMs: { atBob: number; atAlice: number };

  beforeAll(async () => {
    ({ federation, alice, bob, roomId } = await twoServerRoom({ env: ENV }));
    await alice.client.sendText(roomId, fromAlice[0]!);
    await bob.client.sendText(roomId, fromBob[0]!);
    await syncUntil(
      [alice, bob],
      () =>
        texts(bob.events, roomId).includes(fromAlice[0]!) &&
        texts(alice.events, roomId).includes(fromBob[0]!),
      "the messages before the cut",
    );

    federation.cut(0, 1);
    // Ten minutes of the servers' time in ten seconds, messages sent on both sides meanwhile.
    const stop = fastClocks(federation, 60);
    for (let i = 1; i <= 3; i++) {
      await sleep(3_000);
      fromAlice.push(`from alice during the cut ${i}`);
      await alice.client.sendText(roomId, fromAlice.at(-1)!);
      fromBob.push(`from bob during the cut ${i}`);
      await bob.client.sendText(roomId, fromBob.at(-1)!);
    }
    await sleep(1_000);
    stop();

    federation.restore(0, 1);
    const healedAt = Date.now();
    fromAlice.push("from alice after the heal");
    fromBob.push("from bob after the heal");
    await Promise.all([
      alice.client.sendText(roomId, fromAlice.at(-1)!),
      bob.client.sendText(roomId, fromBob.at(-1)!),
    ]);
    const arrival = async (test: TestClient, text: string) => {
      await syncUntil([test], () => texts(test.events, roomId).includes(text), text, 60_000);
      return Date.now() - healedAt;
    };
    const [atBob, atAlice] = await Promise.all([
      arrival(bob, fromAlice.at(-1)!),
      arrival(alice, fromBob.at(-1)!),
    ]);
    arrivalMs = { atBob, atAlice };
  }, 180_000);

  afterAll(async () => {
    for (const test of [alice, bob]) await test?.client.close();
    await federation?.close();
    removeStoreFolders();
  });

  it("delivers the next message each way within 5 s of the heal", () => {
    expect(arrivalMs.atBob).toBeLessThan(5_000);
    expect(arrivalMs.atAlice).toBeLessThan(5_000);
  });

  it("delivers every message sent during the cut, in order", () => {
    expect(texts(bob.events, roomId).filter((text) => fromAlice.includes(text))).toEqual(fromAlice);
    expect(texts(alice.events, roomId).filter((text) => fromBob.includes(text))).toEqual(fromBob);
  });
});

describe("a peer down for an hour", () => {
  const PROBE_MS = MINUTE;
  let federation: Federation;
  let alice: TestClient;
  let bob: TestClient;
  let roomId: string;
  let connections: number;
  /** How much of server 1's time went by while the link was cut. */
  let downMs: number;

  beforeAll(async () => {
    ({ federation, alice, bob, roomId } = await twoServerRoom({
      env: { ...ENV, MYELIN_FEDERATION_PROBE_INTERVAL_MS: String(PROBE_MS) },
    }));
    federation.cut(0, 1);
    const before = federation.refusedConnections(0, 1);
    // An hour of server 1's time in 30 s, with twenty messages queued for server 2 meanwhile.
    const startedAt = Date.now();
    const stop = fastClocks(federation, 120);
    for (let i = 0; i < 20; i++) {
      await alice.client.sendText(roomId, `queued ${i}`);
      await sleep(1_500);
    }
    stop();
    downMs = (Date.now() - startedAt) * 120;
    connections = federation.refusedConnections(0, 1) - before;
  }, 120_000);

  afterAll(async () => {
    for (const test of [alice, bob]) await test?.client.close();
    await federation?.close();
    removeStoreFolders();
  });

  it("receives at most one probe per probe interval and the backoff's attempts, not a request per message", () => {
    // Probes at least 45 s apart (the interval less a quarter of jitter); attempts after 1, 2,
    // 4 ... 2048 s; a few key queries of Alice's client; twenty messages add nothing.
    expect(downMs).toBeGreaterThanOrEqual(60 * MINUTE);
    const probes = Math.ceil(downMs / (PROBE_MS * 0.75));
    const attempts = 13;
    expect(connections).toBeGreaterThan(0);
    expect(connections).toBeLessThanOrEqual(probes + attempts + 5);
  });
});
