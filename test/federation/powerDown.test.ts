// Issue 5, section 6: the first power server is down. Carol's pending commit waits for the next
// power's window: server 2 applies it once its clock passes t + 5 min (driven through the clock
// offset file, never by sleeping). Server 1 comes back after its own window has passed, catches
// up from the other servers' queues and agrees on the current commit.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SLOT_MS } from "../../src/protocol/commitSchedule.js";
import type { Federation } from "../helpers/federation.js";
import { threeServerRoom } from "../helpers/federatedRoom.js";
import { errors, removeStoreFolders, syncUntil, texts, type TestClient } from "../helpers/sdkClients.js";

describe("a pending commit while the first power server is down", () => {
  let federation: Federation;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;
  const summary = (test: TestClient) => test.client.rooms().find((room) => room.roomId === roomId);

  beforeAll(async () => {
    ({ federation, alice, bob, carol, roomId } = await threeServerRoom({ secondPower: true }));
    const [s1, s2] = federation.servers;

    await s1!.stop();
    const topic = carol.client.setTopic(roomId, "set while server 1 was down");
    // Server 2's window opens 5 minutes after the pending commit was sent.
    await new Promise((resolve) => setTimeout(resolve, 500));
    s2!.advanceClock(SLOT_MS + 1_000);
    await topic;
    // Server 1 returns after its own window for that pending commit has closed.
    s1!.advanceClock(SLOT_MS + 1_000);
    await s1!.restart();
  }, 120_000);

  afterAll(async () => {
    for (const test of [alice, bob, carol]) await test?.client.close();
    await federation?.close();
    removeStoreFolders();
  });

  it("lets server 2 apply Carol's pending commit in its window", async () => {
    await syncUntil(
      [bob, carol],
      () => summary(bob)?.topic === "set while server 1 was down",
      "the topic on server 2",
    );
    expect(summary(carol)?.topic).toBe("set while server 1 was down");
  });

  it("brings server 1 back to the same current commit", async () => {
    await syncUntil(
      [alice],
      () => summary(alice)?.topic === "set while server 1 was down",
      "the topic on server 1",
    );
    expect(alice.events.some((event) => event.kind === "resync")).toBe(false);
  });

  it("keeps the room working across all three servers afterwards", async () => {
    await alice.client.sendText(roomId, "server 1 is back");
    await syncUntil(
      [bob, carol],
      () => [bob, carol].every((test) => texts(test.events, roomId).includes("server 1 is back")),
      "alice's message",
    );
    expect([texts(bob.events, roomId).at(-1), texts(carol.events, roomId).at(-1)]).toEqual([
      "server 1 is back",
      "server 1 is back",
    ]);
  });

  it("leaves no member with an undecryptable message", () => {
    for (const test of [alice, bob, carol]) expect(errors(test.events)).toEqual([]);
  });
});
