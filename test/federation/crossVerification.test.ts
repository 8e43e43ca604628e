// required_verification m.cross across servers (section 3): Alice on server 1 verifies Bob on
// server 2 by signing his master key with her user-signing key; her server keeps that signature and
// shows it to her alone, so Bob's devices are "cross" for her and can be added to an m.cross room,
// while Carol, whom Alice never verified, cannot.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MyelinError } from "../../src/client/errors.js";
import { startFederation, type Federation } from "../helpers/federation.js";
import { registerClient, removeStoreFolders, type TestClient } from "../helpers/sdkClients.js";

describe("cross-signing verification across servers", () => {
  let federation: Federation;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;

  beforeAll(async () => {
    federation = await startFederation(2);
    const [s1, s2] = federation.servers;
    alice = await registerClient(s1!.url, "alice");
    bob = await registerClient(s2!.url, "bob");
    carol = await registerClient(s2!.url, "carol");
    await alice.client.verifyUser(bob.client.userId, await bob.client.fingerprint());
    roomId = await alice.client.createRoom({ requiredVerification: "m.cross" });
  }, 60_000);

  afterAll(async () => {
    for (const test of [alice, bob, carol]) await test?.client.close();
    await federation?.close();
    removeStoreFolders();
  });

  it("adds the verified remote user's device to an m.cross room", async () => {
    const result = await alice.client.invite(roomId, bob.client.userId);
    expect(result.added).toEqual([{ userId: bob.client.userId, deviceId: bob.client.deviceId }]);
  });

  it("shows the remote device as cross-signed in the member list", async () => {
    const bobs = (await alice.client.members(roomId)).find((m) => m.userId === bob.client.userId);
    expect(bobs?.verification).toBe("cross");
  });

  it("refuses to add a remote user nobody verified", async () => {
    await expect(alice.client.invite(roomId, carol.client.userId)).rejects.toBeInstanceOf(MyelinError);
  });
});
