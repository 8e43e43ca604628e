import { describe, expect, it } from "vitest";
import {
  MlsEngineError,
  createRoomCommit,
  createRoomGroup,
  decodeDeviceKeyPackage,
  encodeDeviceKeyPackage,
  groupMembers,
  groupRoomId,
  joinFromWelcome,
  welcomeKeyPackageRefs,
  type DeviceKeyPackage,
  keyPackageIdentity,
} from "../../../src/client/mls/engine.js";

import { ROOM_ID, deviceKeyPackage, federation } from "./twoMembers.js";

// Alice's group adds the given key packages; returns the Welcome.
async function welcomeFor(...keyPackages: DeviceKeyPackage[]): Promise<string> {
  const alice = await createRoomGroup(ROOM_ID, await deviceKeyPackage("@alice:a.example", "ALICE"));
  const commit = await createRoomCommit({
    state: alice,
    federation,
    addKeyPackages: keyPackages.map((keyPackage) => keyPackage.wire),
  });
  if (!commit.welcome) throw new Error("adding devices must produce a Welcome");
  return commit.welcome;
}

function refOf(keyPackage: DeviceKeyPackage): string {
  return keyPackage.keyId.slice(keyPackage.keyId.lastIndexOf(":") + 1);
}

describe("device key packages in the client store", () => {
  it("a device key package survives encode/decode and still joins from a Welcome", async () => {
    const bobPackage = await deviceKeyPackage("@bob:b.example", "BOB");
    const restored = decodeDeviceKeyPackage(encodeDeviceKeyPackage(bobPackage));
    const bob = await joinFromWelcome(await welcomeFor(bobPackage), restored);
    expect(groupMembers(bob).map((member) => member.deviceId)).toEqual(["ALICE", "BOB"]);
  });
  it("keep their key ID and upload form through encode/decode", async () => {
    const bobPackage = await deviceKeyPackage("@bob:b.example", "BOB");
    const restored = decodeDeviceKeyPackage(encodeDeviceKeyPackage(bobPackage));
    expect([restored.keyId, restored.wire]).toEqual([bobPackage.keyId, bobPackage.wire]);
  });
  it("refuse bytes with trailing garbage", async () => {
    const bytes = encodeDeviceKeyPackage(await deviceKeyPackage("@bob:b.example", "BOB"));
    expect(() => decodeDeviceKeyPackage(new Uint8Array([...bytes, 0]))).toThrow(MlsEngineError);
  });
  it("refuse truncated bytes", async () => {
    const bytes = encodeDeviceKeyPackage(await deviceKeyPackage("@bob:b.example", "BOB"));
    expect(() => decodeDeviceKeyPackage(bytes.subarray(0, bytes.length - 1))).toThrow(MlsEngineError);
  });
});

describe("Welcomes (section 9)", () => {
  it("finds the key package a Welcome is for", async () => {
    const bobPackage = await deviceKeyPackage("@bob:b.example", "BOB");
    expect(welcomeKeyPackageRefs(await welcomeFor(bobPackage))).toEqual([refOf(bobPackage)]);
  });
  it("lists every key package a Welcome adds", async () => {
    const bobPackage = await deviceKeyPackage("@bob:b.example", "BOB");
    const carolPackage = await deviceKeyPackage("@carol:b.example", "CAROL");
    const refs = welcomeKeyPackageRefs(await welcomeFor(bobPackage, carolPackage));
    expect(refs.sort()).toEqual([refOf(bobPackage), refOf(carolPackage)].sort());
  });
  it("refuses what is not a Welcome", async () => {
    const bobPackage = await deviceKeyPackage("@bob:b.example", "BOB");
    expect(() => welcomeKeyPackageRefs(bobPackage.wire)).toThrow(/not a Welcome/);
  });
  it("tells the joiner the room ID the group is for", async () => {
    const bobPackage = await deviceKeyPackage("@bob:b.example", "BOB");
    expect(groupRoomId(await joinFromWelcome(await welcomeFor(bobPackage), bobPackage))).toBe(ROOM_ID);
  });
});

describe("claimed key packages (section 9)", () => {
  it("name the user, device and signature key of their credential", async () => {
    const bobPackage = await deviceKeyPackage("@bob:b.example", "BOB");
    expect(keyPackageIdentity(bobPackage.wire)).toEqual({
      userId: "@bob:b.example",
      deviceId: "BOB",
      signaturePublicKey: bobPackage.publicPackage.leafNode.signaturePublicKey,
    });
  });
  it("have no identity when the string is not a key package", () => {
    expect(keyPackageIdentity("not base64 at all!")).toBeUndefined();
  });
});
