// Issue 5, section 5: a partition between server 1 and servers 2 and 3. Both sides commit at the
// same epoch (server 1 directly as first power, server 2 in its window as second power). After
// healing every server reaches the same current commit, server 1's (the higher rank); the clients
// that followed the losing commit ask to be welcomed again and carry on; what was sent during the
// partition reaches every server.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SLOT_MS } from "../../src/protocol/commitSchedule.js";
import type { Federation } from "../helpers/federation.js";
import { threeServerRoom } from "../helpers/federatedRoom.js";
import { request } from "../helpers/http.js";
import { PASSWORD, removeStoreFolders, syncUntil, texts, type TestClient } from "../helpers/sdkClients.js";

describe("a partition with commits on both sides", () => {
  let federation: Federation;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;
  let bobsPartitionMessage: string;
  let alicesPartitionMessage: string;
  const summary = (test: TestClient) => test.client.rooms().find((room) => room.roomId === roomId);

  /** Whether the server at `index` stored the event, read as a member of the room on it would. */
  async function stored(index: number, user: string, eventId: string): Promise<boolean> {
    const server = federation.servers[index]!;
    const login = await request<{ access_token: string }>(server.url, "POST", "/_matrix/client/v3/login", {
      body: { type: "m.login.password", identifier: { type: "m.id.user", user }, password: PASSWORD },
    });
    const reply = await request(
      server.url,
      "GET",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(eventId)}`,
      { token: login.body.access_token },
    );
    return reply.status === 200;
  }

  beforeAll(async () => {
    ({ federation, alice, bob, carol, roomId } = await threeServerRoom({ secondPower: true }));

    federation.cut(0, 1);
    federation.cut(0, 2);
    // Server 1's side: a direct commit, then a message.
    await alice.client.setTopic(roomId, "side of server 1");
    alicesPartitionMessage = await alice.client.sendText(roomId, "from server 1 during the partition");
    // Servers 2 and 3: Bob's pending commit, applied by server 2 in its window, then a message.
    const topic = bob.client.setTopic(roomId, "side of server 2");
    await new Promise((resolve) => setTimeout(resolve, 500));
    federation.servers[1]!.advanceClock(SLOT_MS + 1_000);
    await topic;
    await syncUntil(
      [carol],
      () => summary(carol)?.topic === "side of server 2",
      "server 2's commit on server 3",
    );
    bobsPartitionMessage = await bob.client.sendText(roomId, "from server 2 during the partition");

    federation.restore(0, 1);
    federation.restore(0, 2);
  }, 120_000);

  afterAll(async () => {
    for (const test of [alice, bob, carol]) await test?.client.close();
    await federation?.close();
    removeStoreFolders();
  });

  it("settles every server on server 1's commit, the higher-ranked one", async () => {
    await syncUntil(
      [alice, bob, carol],
      () => [bob, carol].every((test) => summary(test)?.topic === "side of server 1"),
      "the winning topic",
      60_000,
    );
    expect(summary(alice)?.topic).toBe("side of server 1");
  }, 70_000);

  it("tells the clients that followed the losing commit, which then resync", () => {
    for (const test of [bob, carol]) expect(test.events.some((event) => event.kind === "resync")).toBe(true);
    expect(alice.events.some((event) => event.kind === "resync")).toBe(false);
  });

  it("carries on: a message after the partition reaches everyone", async () => {
    await alice.client.sendText(roomId, "after the partition");
    await syncUntil(
      [alice, bob, carol],
      () => [bob, carol].every((test) => texts(test.events, roomId).includes("after the partition")),
      "the message after the partition",
    );
  });

  it("delivers what was sent during the partition to the other side's servers", async () => {
    expect(await stored(0, "alice", bobsPartitionMessage)).toBe(true);
    expect(await stored(1, "bob", alicesPartitionMessage)).toBe(true);
    expect(await stored(2, "carol", alicesPartitionMessage)).toBe(true);
  });
});
