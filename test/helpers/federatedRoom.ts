// The starting point of the federation tests: three real homeservers, Alice on server 1, Bob on
// server 2, Carol on server 3, all in one room that Alice created (each invite's commit added the
// invitee's server to `servers`); optionally with server 2 made the second power.
import type { RoomSummary } from "../../src/client/events.js";
import { startFederation, type Federation } from "./federation.js";
import { registerClient, syncUntil, type TestClient } from "./sdkClients.js";

export interface FederatedRoom {
  readonly federation: Federation;
  readonly alice: TestClient;
  readonly bob: TestClient;
  readonly carol: TestClient;
  readonly roomId: string;
  summary(test: TestClient): RoomSummary | undefined;
}

export async function threeServerRoom(
  options: { name?: string; secondPower?: boolean } = {},
): Promise<FederatedRoom> {
  const federation = await startFederation(3);
  const [s1, s2, s3] = federation.servers;
  const alice = await registerClient(s1!.url, "alice");
  const bob = await registerClient(s2!.url, "bob");
  const carol = await registerClient(s3!.url, "carol");
  const roomId = await alice.client.createRoom({
    requiredVerification: "m.tofu",
    ...(options.name !== undefined ? { name: options.name } : {}),
  });
  const summary = (test: TestClient) => test.client.rooms().find((room) => room.roomId === roomId);
  await alice.client.invite(roomId, bob.client.userId);
  await alice.client.invite(roomId, carol.client.userId);
  await syncUntil(
    [bob, carol],
    () => summary(bob)?.membership === "invited" && summary(carol)?.membership === "invited",
    "the invites",
  );
  await bob.client.join(roomId);
  await carol.client.join(roomId);
  if (options.secondPower) {
    await alice.client.setFederation(roomId, { powers: [s1!.serverName, s2!.serverName] });
    await syncUntil(
      [bob, carol],
      () => carol.client.federation(roomId)?.federation.powers.length === 2,
      "the new powers",
    );
  }
  return { federation, alice, bob, carol, roomId, summary };
}

/** Two real homeservers and no third to relay: Alice on server 1, Bob on server 2, in one room. */
export async function twoServerRoom(
  options: { env?: Record<string, string> } = {},
): Promise<Omit<FederatedRoom, "carol">> {
  const federation = await startFederation(2, options.env !== undefined ? { env: options.env } : {});
  const [s1, s2] = federation.servers;
  const alice = await registerClient(s1!.url, "alice");
  const bob = await registerClient(s2!.url, "bob");
  const roomId = await alice.client.createRoom({ requiredVerification: "m.tofu" });
  const summary = (test: TestClient) => test.client.rooms().find((room) => room.roomId === roomId);
  await alice.client.invite(roomId, bob.client.userId);
  await syncUntil([bob], () => summary(bob)?.membership === "invited", "the invite");
  await bob.client.join(roomId);
  return { federation, alice, bob, roomId, summary };
}
