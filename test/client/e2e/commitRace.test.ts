// A commit race between two members (spec section 6, D12, D14): Alice and Bob both invite someone
// at the same epoch; Alice's commit wins, Bob's SDK catches up, plans its invite again on the new
// epoch and it still happens; a message Bob encrypted in the old epoch is re-encrypted, not lost.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { ClientEvent } from "../../../src/client/events.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import {
  errors,
  registerClient,
  removeStoreFolders,
  syncAll,
  texts,
  type TestClient,
} from "../../helpers/sdkClients.js";

type CommitEvent = Extract<ClientEvent, { kind: "commit" }>;
const commitsOf = (test: TestClient, kind: string) =>
  test.events.filter((e): e is CommitEvent => e.kind === "commit" && e.intent.kind === kind);

describe("a commit race between two members", () => {
  let server: ServerProcess;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let dave: TestClient;
  let roomId: string;

  beforeAll(async () => {
    server = await startServerProcess();
    alice = await registerClient(server.url, "alice");
    bob = await registerClient(server.url, "bob");
    carol = await registerClient(server.url, "carol");
    dave = await registerClient(server.url, "dave");
    roomId = await alice.client.createRoom({ name: "race", requiredVerification: "m.tofu" });
    await alice.client.invite(roomId, bob.client.userId);
    await syncAll([bob]);
    await bob.client.join(roomId);
    await syncAll([alice, bob]);
    // Both are in the same epoch now. Alice's invite is accepted first; Bob has not synced since,
    // so his invite is made against the epoch Alice's commit just left.
    await alice.client.invite(roomId, carol.client.userId);
    await bob.client.invite(roomId, dave.client.userId);
    await syncAll([alice, bob, carol, dave]);
    await carol.client.join(roomId);
    await dave.client.join(roomId);
  }, 120_000);

  afterAll(async () => {
    for (const test of [alice, bob, carol, dave]) await test?.client.close();
    await server?.destroy();
    removeStoreFolders();
  });

  it("tells Bob his first commit lost the epoch and is being retried", () => {
    expect(commitsOf(bob, "invite").map((e) => e.outcome)).toEqual(["retrying", "accepted"]);
  });

  it("still adds both invitees: the winner's and the retried one", async () => {
    const users = new Set((await alice.client.members(roomId)).map((m) => m.userId));
    expect(users).toEqual(
      new Set([alice.client.userId, bob.client.userId, carol.client.userId, dave.client.userId]),
    );
  });

  it("re-encrypts a message sent from a stale epoch (D14) so everyone reads it", async () => {
    await alice.client.setTopic(roomId, "moved on"); // Bob has not seen this commit yet
    await bob.client.sendText(roomId, "sent from the old epoch");
    await syncAll([alice, bob, carol, dave]);
    for (const test of [alice, carol, dave])
      expect(texts(test.events, roomId)).toContain("sent from the old epoch");
  });

  it("leaves no member with an undecryptable message", () => {
    for (const test of [alice, bob, carol, dave]) expect(errors(test.events)).toEqual([]);
  });
});
