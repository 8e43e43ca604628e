// Leaving (section 7): Bob leaves from one of his two devices with a Remove proposal for itself
// (ts-mls has no self-remove); a remaining member commits him out with all his devices, and a
// member who wants to send meanwhile commits the waiting proposal first.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

describe("a user leaving a room", () => {
  let server: ServerProcess;
  let alice: TestClient;
  let bob1: TestClient;
  let bob2: TestClient;
  let carol: TestClient;
  let roomId: string;

  beforeAll(async () => {
    server = await startServerProcess();
    alice = await registerClient(server.url, "alice");
    bob1 = await registerClient(server.url, "bob");
    bob2 = await loginClient(server.url, "bob");
    carol = await registerClient(server.url, "carol");
    await bob1.client.approveDevice(bob2.client.deviceId);
    roomId = await alice.client.createRoom({ requiredVerification: "m.tofu" });
    await alice.client.invite(roomId, bob1.client.userId);
    await alice.client.invite(roomId, carol.client.userId);
    await syncAll([bob1, bob2, carol]);
    await bob1.client.join(roomId);
    await carol.client.join(roomId);
    await syncAll([alice, bob1, bob2, carol]);

    await bob1.client.leave(roomId);
    // Carol sees Bob's proposal first and sends: her SDK commits the proposal, then the message.
    await syncAll([carol], 1);
    await carol.client.sendText(roomId, "bob has gone");
    await syncAll([alice, bob2, carol]);
  }, 120_000);

  afterAll(async () => {
    for (const test of [alice, bob1, bob2, carol]) await test?.client.close();
    await server?.destroy();
    removeStoreFolders();
  });

  it("removes every device of the leaving user from the group", async () => {
    const users = (await alice.client.members(roomId)).map((m) => m.userId);
    expect(users.sort()).toEqual([alice.client.userId, carol.client.userId].sort());
  });

  it("lets a member send after committing the waiting Remove proposal", () => {
    expect(texts(alice.events, roomId)).toEqual(["bob has gone"]);
  });

  it("tells the remaining members that Bob's devices left the group", () => {
    const removed = alice.events.flatMap((e) => (e.kind === "membership" ? e.removed : []));
    expect(removed.map((d) => d.deviceId).sort()).toEqual(
      [bob1.client.deviceId, bob2.client.deviceId].sort(),
    );
  });

  it("deletes the group on both of Bob's devices and marks the room left", () => {
    for (const bob of [bob1, bob2]) {
      const room = bob.client.rooms().find((r) => r.roomId === roomId);
      expect({ membership: room?.membership, epoch: room?.epoch }).toEqual({
        membership: "left",
        epoch: undefined,
      });
    }
  });

  it("leaves no remaining member with an undecryptable message", () => {
    for (const test of [alice, carol]) expect(errors(test.events)).toEqual([]);
  });
});
