// Shared setup: Alice creates a room group and adds Bob's device, both sides in epoch 1.
import {
  createDeviceKeyPackage,
  createRoomCommit,
  createRoomGroup,
  generateSignatureKeyPair,
  joinFromWelcome,
  type DeviceKeyPackage,
  type GroupState,
} from "../../../src/client/mls/engine.js";
import type { FederationObject } from "../../../src/protocol/federationObject.js";

export const ROOM_ID = "!room:a.example";
export const ALGORITHM = "org.example.mls.v1";

export const federation: FederationObject = {
  federation: { powers: ["a.example"], servers: ["a.example", "b.example"], canPropose: [] },
  security: { window: 0, requiredVerification: "m.cross" },
};

export async function deviceKeyPackage(userId: string, deviceId: string): Promise<DeviceKeyPackage> {
  const signatureKeyPair = await generateSignatureKeyPair();
  return createDeviceKeyPackage({ userId, deviceId, signatureKeyPair, algorithm: ALGORITHM });
}

export async function twoMembers(): Promise<{ alice: GroupState; bob: GroupState }> {
  const alice = await createRoomGroup(ROOM_ID, await deviceKeyPackage("@alice:a.example", "ALICE"));
  const bobPackage = await deviceKeyPackage("@bob:b.example", "BOB");
  const commit = await createRoomCommit({ state: alice, federation, addKeyPackages: [bobPackage.wire] });
  if (!commit.welcome) throw new Error("adding a device must produce a Welcome");
  return { alice: commit.pendingState, bob: await joinFromWelcome(commit.welcome, bobPackage) };
}
