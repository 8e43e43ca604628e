import { describe, expect, it } from "vitest";
import {
  createDeviceKeyPackage,
  createRoomCommit,
  createRoomGroup,
  decodeGroupState,
  encodeGroupState,
  encryptRoomMessage,
  generateSignatureKeyPair,
  ownLeafIndex,
  receiveRoomMessage,
  wipeConsumedSecrets,
  type GroupState,
  type ReceivedMessage,
} from "../../../src/client/mls/engine.js";
import { decodeBase64Lenient } from "../../../src/protocol/base64.js";
import { decodeFederationObject } from "../../../src/protocol/federationObject.js";
import { MLS_CONTENT_TYPE, readMlsFraming } from "../../../src/protocol/mlsFraming.js";
import { ALGORITHM, ROOM_ID, deviceKeyPackage, federation, twoMembers } from "./twoMembers.js";

const hello = { type: "m.room.message", content: { msgtype: "m.text", body: "hello" } };

async function sendTo(sender: GroupState, receiver: GroupState): Promise<ReceivedMessage> {
  const { ciphertext } = await encryptRoomMessage(sender, hello);
  return receiveRoomMessage(receiver, ciphertext);
}

describe("key packages (section 9, D20)", () => {
  it("are identified by the algorithm and the unpadded URL-safe base64 KeyPackageRef", async () => {
    const keyPackage = await deviceKeyPackage("@alice:a.example", "ALICE");
    expect(keyPackage.keyId).toMatch(new RegExp(`^${ALGORITHM.replaceAll(".", "\\.")}:[A-Za-z0-9_-]{43}$`));
  });
  it("carry the last_resort extension (type 10) when asked to", async () => {
    const signatureKeyPair = await generateSignatureKeyPair();
    const keyPackage = await createDeviceKeyPackage({
      userId: "@a:a.example",
      deviceId: "A",
      signatureKeyPair,
      algorithm: ALGORITHM,
      lastResort: true,
    });
    expect(keyPackage.publicPackage.extensions.map((extension) => extension.extensionType)).toEqual([10]);
  });
});

describe("room groups (section 8)", () => {
  it("use the room ID's UTF-8 as group ID", async () => {
    const state = await createRoomGroup(ROOM_ID, await deviceKeyPackage("@alice:a.example", "ALICE"));
    const { ciphertext } = await encryptRoomMessage(state, hello);
    expect(new TextDecoder().decode(readMlsFraming(decodeBase64Lenient(ciphertext)).groupId)).toBe(ROOM_ID);
  });
  it("hold the room state extension 0xF6D0 with canonical JSON {}", async () => {
    const state = await createRoomGroup(ROOM_ID, await deviceKeyPackage("@alice:a.example", "ALICE"));
    const roomState = state.groupContext.extensions.find((extension) => extension.extensionType === 0xf6d0);
    expect(new TextDecoder().decode(roomState?.extensionData as Uint8Array)).toBe("{}");
  });
});

describe("commits (sections 3 and 6)", () => {
  it("carry the CBOR federation object as authenticated data", async () => {
    const state = await createRoomGroup(ROOM_ID, await deviceKeyPackage("@alice:a.example", "ALICE"));
    const commit = await createRoomCommit({ state, federation });
    const framing = readMlsFraming(decodeBase64Lenient(commit.ciphertext));
    expect(framing.contentType).toBe(MLS_CONTENT_TYPE.commit);
    expect(decodeFederationObject(framing.authenticatedData)).toEqual(federation);
  });
  it("leave the input state in its epoch until the caller adopts the pending state", async () => {
    const state = await createRoomGroup(ROOM_ID, await deviceKeyPackage("@alice:a.example", "ALICE"));
    const commit = await createRoomCommit({ state, federation });
    expect([state.groupContext.epoch, commit.pendingState.groupContext.epoch]).toEqual([0n, 1n]);
  });
  it("adopt the pending state when one's own commit comes back", async () => {
    const { alice } = await twoMembers();
    const commit = await createRoomCommit({ state: alice, federation });
    const echoed = await receiveRoomMessage(alice, commit.ciphertext, commit);
    expect(echoed).toEqual({ kind: "ownCommit", state: commit.pendingState });
  });
  it("keep the adopted state working after the accepted commit's secrets are wiped", async () => {
    const { alice, bob } = await twoMembers();
    const commit = await createRoomCommit({ state: alice, federation });
    const bobInNextEpoch = await receiveRoomMessage(bob, commit.ciphertext);
    wipeConsumedSecrets(commit);
    const fromAlice = await sendTo(commit.pendingState, bobInNextEpoch.state);
    expect(fromAlice.kind === "application" && fromAlice.message).toEqual(hello);
  });
  it("let a member process another member's commit with the federation object", async () => {
    const { alice, bob } = await twoMembers();
    const commit = await createRoomCommit({ state: alice, federation });
    const received = await receiveRoomMessage(bob, commit.ciphertext);
    expect(received.kind === "commit" && decodeFederationObject(received.authenticatedData)).toEqual(
      federation,
    );
  });
  it("let a member drop its own commit and process the competing one on the old state", async () => {
    const { alice, bob } = await twoMembers();
    const bobsCommit = await createRoomCommit({ state: bob, federation });
    await createRoomCommit({ state: alice, federation }); // refused by the server (409): dropped
    const received = await receiveRoomMessage(alice, bobsCommit.ciphertext);
    const fromBob = await sendTo(bobsCommit.pendingState, received.state);
    expect(fromBob.kind === "application" && fromBob.message).toEqual(hello);
  });
});

describe("application messages (section 8)", () => {
  it("reach the joined member with the sender's identity and leaf", async () => {
    const { alice, bob } = await twoMembers();
    const received = await sendTo(alice, bob);
    expect(received).toMatchObject({
      kind: "application",
      message: hello,
      senderLeafIndex: ownLeafIndex(alice),
      sender: { userId: "@alice:a.example", deviceId: "ALICE" },
    });
  });
  it("reach the creator from the joined member with the sender's identity", async () => {
    const { alice, bob } = await twoMembers();
    const received = await sendTo(bob, alice);
    expect(received).toMatchObject({
      kind: "application",
      sender: { userId: "@bob:b.example", deviceId: "BOB" },
    });
  });
  it("still decrypt after the state went through encode and decode", async () => {
    const { alice, bob } = await twoMembers();
    const restored = decodeGroupState(encodeGroupState(bob));
    const received = await sendTo(alice, restored);
    expect(received.kind === "application" && received.message).toEqual(hello);
  });
});
