// Group changes through the SDK: removing one device of a user, the self-update that follows a
// single removal (ts-mls rc.10 sends it without an update path), an explicit self-update, and
// encrypted room state of any event type (section 8), refused before anything is sent when invalid.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClientEvent } from "../../../src/client/events.js";
import { MlsEngineError } from "../../../src/client/mls/engine.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import {
  errors,
  loginClient,
  registerClient,
  removeStoreFolders,
  syncAll,
  texts,
  type TestClient,
} from "../../helpers/sdkClients.js";

type CommitEvent = Extract<ClientEvent, { kind: "commit" }>;

describe("group changes through the SDK", () => {
  let server: ServerProcess;
  let alice: TestClient;
  let bob1: TestClient;
  let bob2: TestClient;
  let roomId: string;
  const epochOf = (test: TestClient) => test.client.rooms().find((r) => r.roomId === roomId)?.epoch;

  beforeAll(async () => {
    server = await startServerProcess();
    alice = await registerClient(server.url, "alice");
    bob1 = await registerClient(server.url, "bob");
    bob2 = await loginClient(server.url, "bob");
    await bob1.client.approveDevice(bob2.client.deviceId);
    roomId = await alice.client.createRoom({ requiredVerification: "m.tofu" });
    await alice.client.invite(roomId, bob1.client.userId);
    await syncAll([bob1, bob2]);
    await bob1.client.join(roomId);
    await syncAll([alice, bob1, bob2]);
  }, 120_000);

  afterAll(async () => {
    for (const test of [alice, bob1, bob2]) await test?.client.close();
    await server?.destroy();
    removeStoreFolders();
  });

  it("removes one device of a user and keeps the user's other device", async () => {
    await alice.client.removeUser(roomId, bob1.client.userId, bob2.client.deviceId);
    await syncAll([alice, bob1, bob2]);
    const devices = (await alice.client.members(roomId)).map((m) => m.deviceId);
    expect(devices.sort()).toEqual([alice.client.deviceId, bob1.client.deviceId].sort());
  });

  it("follows a single removal with a self-update before anything else", () => {
    const commits = alice.events
      .filter((e): e is CommitEvent => e.kind === "commit")
      .map((e) => `${e.intent.kind}:${e.outcome}`);
    expect(commits.slice(-2)).toEqual(["remove:accepted", "selfUpdate:accepted"]);
  });

  it("tells the removed device, which reads nothing sent after", async () => {
    await alice.client.sendText(roomId, "only bob1 now");
    await syncAll([alice, bob1, bob2]);
    expect(bob2.events.some((e) => e.kind === "removed" && e.roomId === roomId)).toBe(true);
    expect({ bob1: texts(bob1.events, roomId), bob2: texts(bob2.events, roomId) }).toEqual({
      bob1: ["only bob1 now"],
      bob2: [],
    });
  });

  it("moves the group to the next epoch with an explicit self-update, readable by all", async () => {
    const before = epochOf(alice) as number;
    await bob1.client.selfUpdate(roomId);
    await syncAll([alice, bob1]);
    await alice.client.sendText(roomId, "after bob's update");
    await syncAll([alice, bob1]);
    expect({ alice: epochOf(alice), bob: epochOf(bob1), read: texts(bob1.events, roomId).at(-1) }).toEqual({
      alice: before + 1,
      bob: before + 1,
      read: "after bob's update",
    });
  });

  it("carries room state of any event type to the other members (section 8)", async () => {
    await alice.client.setRoomState(roomId, "org.example.pinned", "first", { event: "$abc" });
    await syncAll([bob1]);
    const change = bob1.events.find((e) => e.kind === "state" && e.eventType === "org.example.pinned");
    expect(change).toEqual({
      kind: "state",
      roomId,
      eventType: "org.example.pinned",
      stateKey: "first",
      content: { event: "$abc" },
    });
  });

  it("refuses a state key longer than 255 characters before anything is sent", async () => {
    const epoch = epochOf(alice);
    await expect(
      alice.client.setRoomState(roomId, "org.example.x", "k".repeat(256), {}),
    ).rejects.toBeInstanceOf(MlsEngineError);
    await syncAll([alice]);
    expect(epochOf(alice)).toBe(epoch);
  });

  it("leaves no remaining device with an undecryptable message", () => {
    for (const test of [alice, bob1]) expect(errors(test.events)).toEqual([]);
  });
});
