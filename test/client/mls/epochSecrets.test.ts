import { describe, expect, it } from "vitest";
import {
  MAX_RETAINED_EPOCHS,
  createRoomCommit,
  createRoomGroup,
  decodeGroupState,
  encodeGroupState,
  encryptRoomMessage,
  pruneEpochSecrets,
  receiveRoomMessage,
  retainedEpochs,
  type GroupState,
} from "../../../src/client/mls/engine.js";
import { ROOM_ID, deviceKeyPackage, federation, twoMembers } from "./twoMembers.js";

const hello = { type: "m.room.message", content: { msgtype: "m.text", body: "hello" } };

// Alice says hello in epoch 1, then commits twice; Bob follows: he is in epoch 3 and still
// holds epochs 1 and 2.
async function lateHelloFromEpochOne() {
  const { alice, bob } = await twoMembers();
  const { ciphertext } = await encryptRoomMessage(alice, hello);
  let aliceNow = alice;
  let bobNow = bob;
  for (let i = 0; i < 2; i++) {
    const commit = await createRoomCommit({ state: aliceNow, federation });
    bobNow = (await receiveRoomMessage(bobNow, commit.ciphertext)).state;
    aliceNow = commit.pendingState;
  }
  return { alice: aliceNow, bob: bobNow, lateHello: ciphertext };
}

async function readsHello(state: GroupState, ciphertext: string): Promise<boolean> {
  const received = await receiveRoomMessage(state, ciphertext);
  return received.kind === "application" && received.message.type === hello.type;
}

describe("past epochs' secrets (security.window, section 3)", () => {
  it("are listed oldest first", async () => {
    const { bob } = await lateHelloFromEpochOne();
    expect(retainedEpochs(bob)).toEqual([1n, 2n]);
  });
  it("let a late message of a past epoch decrypt", async () => {
    const { bob, lateHello } = await lateHelloFromEpochOne();
    expect(await readsHello(bob, lateHello)).toBe(true);
  });
  it(`are kept for up to ${MAX_RETAINED_EPOCHS} past epochs (ts-mls keeps 4 by default)`, async () => {
    let state = await createRoomGroup(ROOM_ID, await deviceKeyPackage("@alice:a.example", "ALICE"));
    for (let i = 0; i < MAX_RETAINED_EPOCHS + 2; i++) {
      state = (await createRoomCommit({ state, federation })).pendingState;
    }
    expect(retainedEpochs(state)).toHaveLength(MAX_RETAINED_EPOCHS);
  });
  it("forgets an epoch's secrets once pruned: a message of that epoch no longer decrypts", async () => {
    const { bob, lateHello } = await lateHelloFromEpochOne();
    const pruned = pruneEpochSecrets(bob, (epoch) => epoch !== 1n);
    await expect(receiveRoomMessage(pruned, lateHello)).rejects.toThrow(/no secrets for epoch 1/);
  });
  it("keeps the epochs the caller keeps", async () => {
    const { bob } = await lateHelloFromEpochOne();
    expect(retainedEpochs(pruneEpochSecrets(bob, (epoch) => epoch !== 1n))).toEqual([2n]);
  });
  it("zeroes a pruned epoch's secrets", async () => {
    const { bob } = await lateHelloFromEpochOne();
    const senderDataSecret = bob.historicalReceiverData.get(1n)?.senderDataSecret as Uint8Array;
    pruneEpochSecrets(bob, () => false);
    expect(senderDataSecret.every((byte) => byte === 0)).toBe(true);
  });
  it("does not zero bytes the pruned state still uses", async () => {
    const { alice, bob } = await lateHelloFromEpochOne();
    const past = bob.historicalReceiverData.get(1n);
    if (!past) throw new Error("epoch 1 is retained");
    // An epoch sharing the current epoch's sender data secret (ts-mls shares arrays freely).
    const sharing: GroupState = {
      ...bob,
      historicalReceiverData: new Map([
        [1n, { ...past, senderDataSecret: bob.keySchedule.senderDataSecret }],
      ]),
    };
    const pruned = pruneEpochSecrets(sharing, () => false);
    const { ciphertext } = await encryptRoomMessage(alice, hello);
    expect(await readsHello(pruned, ciphertext)).toBe(true);
  });
  it("does not zero bytes that overlap part of an array the pruned state uses", async () => {
    const { alice, bob } = await lateHelloFromEpochOne();
    const past = bob.historicalReceiverData.get(1n);
    if (!past) throw new Error("epoch 1 is retained");
    const overlapping = bob.keySchedule.senderDataSecret.subarray(4);
    const sharing: GroupState = {
      ...bob,
      historicalReceiverData: new Map([[1n, { ...past, senderDataSecret: overlapping }]]),
    };
    const pruned = pruneEpochSecrets(sharing, () => false);
    const { ciphertext } = await encryptRoomMessage(alice, hello);
    expect(await readsHello(pruned, ciphertext)).toBe(true);
  });
  it("leaves a decoded state (its arrays views into one buffer) working", async () => {
    const { alice, bob } = await lateHelloFromEpochOne();
    const pruned = pruneEpochSecrets(decodeGroupState(encodeGroupState(bob)), () => false);
    const { ciphertext } = await encryptRoomMessage(alice, hello);
    expect(await readsHello(pruned, ciphertext)).toBe(true);
  });
  it("returns the same state when nothing is pruned", async () => {
    const { bob } = await lateHelloFromEpochOne();
    expect(pruneEpochSecrets(bob, () => true)).toBe(bob);
  });
});
