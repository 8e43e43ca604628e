// Shared setup: Alice creates a room group and adds Bob's device (and Carol's), all in epoch 1.
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

const PEOPLE = [
  ["@alice:a.example", "ALICE"],
  ["@bob:b.example", "BOB"],
  ["@carol:b.example", "CAROL"],
  ["@dave:a.example", "DAVE"],
] as const;

/** The first `count` of Alice, Bob, Carol and Dave at leaves 0, 1, 2, 3, added by one commit (epoch 1). */
export async function members(count: number): Promise<GroupState[]> {
  const [creator, ...joiners] = PEOPLE.slice(0, count);
  if (!creator) throw new Error("a group has at least one member");
  const first = await createRoomGroup(ROOM_ID, await deviceKeyPackage(creator[0], creator[1]));
  const packages = await Promise.all(joiners.map(([userId, deviceId]) => deviceKeyPackage(userId, deviceId)));
  const commit = await createRoomCommit({
    state: first,
    federation,
    addKeyPackages: packages.map((keyPackage) => keyPackage.wire),
  });
  if (!commit.welcome) throw new Error("adding devices must produce a Welcome");
  const welcome = commit.welcome;
  return [commit.pendingState, ...(await Promise.all(packages.map((pkg) => joinFromWelcome(welcome, pkg))))];
}

export async function threeMembers(): Promise<{ alice: GroupState; bob: GroupState; carol: GroupState }> {
  const [alice, bob, carol] = (await members(3)) as [GroupState, GroupState, GroupState];
  return { alice, bob, carol };
}
