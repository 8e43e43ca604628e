// End to end on one real homeserver, through the SDK only: Alice creates a named room, invites Bob
// (two devices) and Carol; they chat; name and topic stay out of the server's database and logs;
// Carol is removed and reads nothing after; Bob adds a third device; every client restarts from
// its store and carries on (issue 4; spec sections 6-9).
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import {
  errors,
  loginClient,
  registerClient,
  removeStoreFolders,
  reopen,
  syncAll,
  texts,
  type TestClient,
} from "../../helpers/sdkClients.js";

const ROOM_NAME = "Quokka Orchard Summit";
const ROOM_TOPIC = "Plans for the zeppelin lemonade stand";

describe("MLS chat end to end through the SDK", () => {
  let server: ServerProcess;
  let alice: TestClient;
  let bob1: TestClient;
  let bob2: TestClient;
  let bob3: TestClient;
  let carol: TestClient;
  let roomId: string;
  const everyone = () => [alice, bob1, bob2, carol];

  beforeAll(async () => {
    server = await startServerProcess({ env: { MYELIN_LOG_LEVEL: "debug" } });
    alice = await registerClient(server.url, "alice");
    bob1 = await registerClient(server.url, "bob");
    bob2 = await loginClient(server.url, "bob");
    carol = await registerClient(server.url, "carol");
    await bob1.client.approveDevice(bob2.client.deviceId); // Bob's first device cross-signs his second
    // Alice compares fingerprints with Bob and Carol (out of band) and verifies them (m.cross).
    await alice.client.verifyUser(bob1.client.userId, await bob1.client.fingerprint());
    await alice.client.verifyUser(carol.client.userId, await carol.client.fingerprint());
    await syncAll(everyone());

    roomId = await alice.client.createRoom({ name: ROOM_NAME, topic: ROOM_TOPIC });
    await alice.client.invite(roomId, bob1.client.userId);
    await alice.client.invite(roomId, carol.client.userId);
    await syncAll(everyone());
    await bob1.client.join(roomId);
    await carol.client.join(roomId);
    await syncAll(everyone());
  }, 120_000);

  afterAll(async () => {
    for (const test of [alice, bob1, bob2, bob3, carol]) await test?.client.close();
    await server?.destroy();
    removeStoreFolders();
  });

  it("adds both of Bob's devices and Carol's to the group (section 7 invite)", async () => {
    const members = await alice.client.members(roomId);
    expect(members.map((m) => `${m.userId}/${m.deviceId}`).sort()).toEqual(
      [
        `${alice.client.userId}/${alice.client.deviceId}`,
        `${bob1.client.userId}/${bob1.client.deviceId}`,
        `${bob2.client.userId}/${bob2.client.deviceId}`,
        `${carol.client.userId}/${carol.client.deviceId}`,
      ].sort(),
    );
  });

  it("shows verified members as cross-signed and this device as own", async () => {
    const levels = Object.fromEntries(
      (await alice.client.members(roomId)).map((m) => [m.deviceId, m.verification]),
    );
    expect(levels).toEqual({
      [alice.client.deviceId]: "own",
      [bob1.client.deviceId]: "cross",
      [bob2.client.deviceId]: "cross",
      [carol.client.deviceId]: "cross",
    });
  });

  it("lets every member read the encrypted room name and topic (section 8)", () => {
    for (const test of everyone()) {
      const summary = test.client.rooms().find((room) => room.roomId === roomId);
      expect({ name: summary?.name, topic: summary?.topic }).toEqual({ name: ROOM_NAME, topic: ROOM_TOPIC });
    }
  });

  it("delivers every member's messages to every other member's devices", async () => {
    // In turn, each having seen the message before, as people in a conversation do.
    await alice.client.sendText(roomId, "hello from alice");
    await syncAll(everyone());
    await bob1.client.sendText(roomId, "hello from bob");
    await syncAll(everyone());
    await carol.client.sendText(roomId, "hello from carol");
    await syncAll(everyone());
    expect(texts(alice.events, roomId)).toEqual(["hello from alice", "hello from bob", "hello from carol"]);
    expect(texts(bob2.events, roomId)).toEqual(["hello from alice", "hello from bob", "hello from carol"]);
    expect(texts(carol.events, roomId)).toEqual(["hello from alice", "hello from bob", "hello from carol"]);
  });

  it("names the sender's user and device on received messages", () => {
    const fromBob = bob2.events.find((e) => e.kind === "message" && e.content.body === "hello from bob");
    expect(fromBob?.kind === "message" && fromBob.sender).toEqual({
      userId: bob1.client.userId,
      deviceId: bob1.client.deviceId,
    });
  });

  it("keeps the room name and topic out of the server's database files and logs", () => {
    const files = readdirSync(server.dataDir).map((file) => readFileSync(join(server.dataDir, file)));
    expect(files.length).toBeGreaterThan(0);
    for (const secret of [ROOM_NAME, ROOM_TOPIC]) {
      expect(files.some((bytes) => bytes.includes(secret))).toBe(false);
      expect(server.logs().includes(secret)).toBe(false);
    }
  });

  it("removes Carol: she is told, and cannot read what is sent after", async () => {
    await alice.client.removeUser(roomId, carol.client.userId);
    await alice.client.sendText(roomId, "after carol left");
    await syncAll(everyone());
    expect(carol.events.some((e) => e.kind === "removed" && e.roomId === roomId)).toBe(true);
    expect(texts(carol.events, roomId)).not.toContain("after carol left");
    expect(texts(bob1.events, roomId)).toContain("after carol left");
  });

  it("adds Bob's third device, which reads new messages", async () => {
    bob3 = await loginClient(server.url, "bob");
    await syncAll([bob1, bob3]);
    await bob1.client.approveDevice(bob3.client.deviceId);
    await syncAll([alice, bob1, bob2, bob3]);
    await alice.client.sendText(roomId, "welcome third device");
    await syncAll([alice, bob1, bob2, bob3]);
    expect(texts(bob3.events, roomId)).toEqual(["welcome third device"]);
  });

  it("carries on in the room after every client restarts from its store", async () => {
    for (const test of [alice, bob1, bob2, bob3, carol]) await reopen(test);
    await bob3.client.sendText(roomId, "after the restart");
    await syncAll([alice, bob1, bob2, bob3, carol]);
    for (const test of [alice, bob1, bob2]) expect(texts(test.events, roomId)).toContain("after the restart");
    expect(texts(carol.events, roomId)).not.toContain("after the restart");
  });

  it("keeps each device's decrypted history in its store across the restart", async () => {
    const history = (await alice.client.messages(roomId)).map((m) => m.content.body);
    expect(history).toEqual([
      "hello from alice",
      "hello from bob",
      "hello from carol",
      "after carol left",
      "welcome third device",
      "after the restart",
    ]);
  });

  it("leaves no member with an undecryptable message", () => {
    for (const test of [alice, bob1, bob2, bob3]) expect(errors(test.events)).toEqual([]);
  });
});
