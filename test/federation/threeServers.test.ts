// Issue 5: MLS mode rooms across three real homeservers. Alice on server 1 creates a room and
// invites Bob on server 2 and Carol on server 3 (each commit adds their server to `servers`);
// all chat; Bob's commit travels as a pending commit that server 1 applies; server 1 makes server 2
// a second power; a room name set from server 3 reaches everyone (sections 5-7).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Federation } from "../helpers/federation.js";
import { threeServerRoom } from "../helpers/federatedRoom.js";
import { errors, removeStoreFolders, syncUntil, texts, type TestClient } from "../helpers/sdkClients.js";

describe("a room across three homeservers", () => {
  let federation: Federation;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;
  const everyone = () => [alice, bob, carol];
  const summary = (test: TestClient) => test.client.rooms().find((room) => room.roomId === roomId);

  beforeAll(async () => {
    ({ federation, alice, bob, carol, roomId } = await threeServerRoom({ name: "Across servers" }));
  }, 120_000);

  afterAll(async () => {
    for (const test of [alice, bob, carol]) await test?.client.close();
    await federation?.close();
    removeStoreFolders();
  });

  it("lists all three servers in the room's federation object", () => {
    const servers = federation.servers.map((server) => server.serverName);
    expect([...(alice.client.federation(roomId)?.federation.servers ?? [])].sort()).toEqual(
      [...servers].sort(),
    );
  });

  it("delivers every member's messages to the other servers' members", async () => {
    await alice.client.sendText(roomId, "hello from server 1");
    await syncUntil(
      everyone(),
      () => everyone().every((t) => texts(t.events, roomId).includes("hello from server 1")),
      "alice's message",
    );
    await bob.client.sendText(roomId, "hello from server 2");
    await syncUntil(
      everyone(),
      () => everyone().every((t) => texts(t.events, roomId).includes("hello from server 2")),
      "bob's message",
    );
    await carol.client.sendText(roomId, "hello from server 3");
    await syncUntil(
      everyone(),
      () => everyone().every((t) => texts(t.events, roomId).includes("hello from server 3")),
      "carol's message",
    );
    expect(texts(bob.events, roomId)).toEqual([
      "hello from server 1",
      "hello from server 2",
      "hello from server 3",
    ]);
  });

  it("applies Bob's pending commit on server 1, the first power (section 6)", async () => {
    await bob.client.setTopic(roomId, "set from server 2");
    await syncUntil(everyone(), () => summary(carol)?.topic === "set from server 2", "the topic");
    expect([summary(alice)?.topic, summary(bob)?.topic]).toEqual(["set from server 2", "set from server 2"]);
  });

  it("makes server 2 a second power", async () => {
    const [s1, s2] = federation.servers;
    await alice.client.setFederation(roomId, { powers: [s1!.serverName, s2!.serverName] });
    await syncUntil(
      everyone(),
      () => carol.client.federation(roomId)?.federation.powers.length === 2,
      "the new powers",
    );
    expect(carol.client.federation(roomId)?.federation.powers).toEqual([s1!.serverName, s2!.serverName]);
  });

  it("carries a room name set from server 3 to everyone", async () => {
    await carol.client.setName(roomId, "Named on server 3");
    await syncUntil(
      everyone(),
      () => everyone().every((test) => summary(test)?.name === "Named on server 3"),
      "the name",
    );
  });

  it("hands the first power to server 2, whose clients then commit directly and server 1's by pending commit", async () => {
    const [s1, s2] = federation.servers;
    await alice.client.setFederation(roomId, { powers: [s2!.serverName, s1!.serverName] });
    await syncUntil(
      everyone(),
      () => bob.client.federation(roomId)?.federation.powers[0] === s2!.serverName,
      "the handover",
    );
    await alice.client.setTopic(roomId, "after the handover");
    await syncUntil(
      everyone(),
      () => everyone().every((test) => summary(test)?.topic === "after the handover"),
      "the topic",
    );
  });

  it("leaves no member with an undecryptable message", () => {
    for (const test of everyone()) expect(errors(test.events)).toEqual([]);
  });
});
