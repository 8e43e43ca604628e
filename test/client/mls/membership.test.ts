import {
  createProposal,
  decode,
  defaultProposalTypes,
  encode,
  mlsMessageDecoder,
  mlsMessageEncoder,
  processMessage,
  unsafeTestingAuthenticationService,
  wireformats,
} from "ts-mls";
import { describe, expect, it } from "vitest";
import {
  MlsEngineError,
  cipherSuite,
  createDeviceKeyPackage,
  createRoomCommit,
  createRoomGroup,
  createSelfRemoveProposal,
  encryptRoomMessage,
  generateSignatureKeyPair,
  groupEpoch,
  groupMembers,
  hasPendingProposals,
  proposedRemovals,
  receiveRoomMessage,
  type GroupState,
  type ReceivedMessage,
} from "../../../src/client/mls/engine.js";
import { decodeBase64Lenient, encodeBase64Url } from "../../../src/protocol/base64.js";
import { MLS_CONTENT_TYPE, readMlsFraming } from "../../../src/protocol/mlsFraming.js";
import { ALGORITHM, ROOM_ID, federation, members, threeMembers } from "./twoMembers.js";

const hello = { type: "m.room.message", content: { msgtype: "m.text", body: "hello" } };

async function sendTo(sender: GroupState, receiver: GroupState): Promise<ReceivedMessage> {
  const { ciphertext } = await encryptRoomMessage(sender, hello);
  return receiveRoomMessage(receiver, ciphertext);
}

// Carol (leaf 2) asks to leave; Alice and Bob receive her proposal.
async function carolAsksToLeave() {
  const { alice, bob, carol } = await threeMembers();
  const proposal = await createSelfRemoveProposal(carol);
  return {
    carol: proposal.state,
    alice: (await receiveRoomMessage(alice, proposal.ciphertext)).state,
    bob: (await receiveRoomMessage(bob, proposal.ciphertext)).state,
  };
}

// Alice removes Carol with a commit holding that one Remove, which Carol processes.
async function aliceRemovesCarol() {
  const { alice, carol } = await threeMembers();
  const removal = await createRoomCommit({ state: alice, federation, removeLeafIndices: [2] });
  return {
    alice: removal.pendingState,
    carolReceived: await receiveRoomMessage(carol, removal.ciphertext),
  };
}

describe("members (sections 9 and 11)", () => {
  it("lists members with user and device from their section 9 credentials", async () => {
    const { bob } = await threeMembers();
    expect(groupMembers(bob).map(({ leafIndex, userId, deviceId }) => [leafIndex, userId, deviceId])).toEqual(
      [
        [0, "@alice:a.example", "ALICE"],
        [1, "@bob:b.example", "BOB"],
        [2, "@carol:b.example", "CAROL"],
      ],
    );
  });
  it("gives each member the signature key of its leaf", async () => {
    const signatureKeyPair = await generateSignatureKeyPair();
    const own = await createDeviceKeyPackage({
      userId: "@alice:a.example",
      deviceId: "ALICE",
      signatureKeyPair,
      algorithm: ALGORITHM,
    });
    const alice = await createRoomGroup(ROOM_ID, own);
    expect(groupMembers(alice)[0]?.signaturePublicKey).toEqual(signatureKeyPair.publicKey);
  });
  it("counts the epoch up with every commit", async () => {
    const { alice } = await threeMembers();
    const update = await createRoomCommit({ state: alice, federation });
    expect([groupEpoch(alice), groupEpoch(update.pendingState)]).toEqual([1n, 2n]);
  });
});

describe("leaving with a Remove proposal for oneself (section 7)", () => {
  it("reaches the other members as a proposal naming the leaver's leaf", async () => {
    const { alice, carol } = await threeMembers();
    const proposal = await createSelfRemoveProposal(carol);
    expect(await receiveRoomMessage(alice, proposal.ciphertext)).toMatchObject({
      kind: "proposal",
      removedLeafIndices: [2],
      senderLeafIndex: 2,
    });
  });
  it("is sent as an MLS proposal with the given authenticated data", async () => {
    const { carol } = await threeMembers();
    const proposal = await createSelfRemoveProposal(carol, new Uint8Array([1, 2, 3]));
    const framing = readMlsFraming(decodeBase64Lenient(proposal.ciphertext));
    expect([framing.contentType, [...framing.authenticatedData]]).toEqual([
      MLS_CONTENT_TYPE.proposal,
      [1, 2, 3],
    ]);
  });
  it("stays pending at the receivers until a commit", async () => {
    const { alice } = await carolAsksToLeave();
    expect([hasPendingProposals(alice), proposedRemovals(alice)]).toEqual([true, [2]]);
  });
  it("a member's Remove proposal for itself is committed by another member and the leaver is gone", async () => {
    const { alice, bob } = await carolAsksToLeave();
    const commit = await createRoomCommit({ state: alice, federation });
    const bobAfter = (await receiveRoomMessage(bob, commit.ciphertext)).state;
    expect(groupMembers(bobAfter).map((member) => member.deviceId)).toEqual(["ALICE", "BOB"]);
  });
  it("leaves no proposal pending once committed", async () => {
    const { alice } = await carolAsksToLeave();
    const commit = await createRoomCommit({ state: alice, federation });
    expect(hasPendingProposals(commit.pendingState)).toBe(false);
  });
  it("is not removed a second time when the committer also names the leaver", async () => {
    const { alice, bob } = await carolAsksToLeave();
    const commit = await createRoomCommit({ state: alice, federation, removeLeafIndices: [2] });
    const bobAfter = (await receiveRoomMessage(bob, commit.ciphertext)).state;
    expect(groupMembers(bobAfter).map((member) => member.leafIndex)).toEqual([0, 1]);
  });
  it("removedSelf is reported to the leaver when its proposal is committed", async () => {
    const { alice, carol } = await carolAsksToLeave();
    const commit = await createRoomCommit({ state: alice, federation });
    expect(await receiveRoomMessage(carol, commit.ciphertext)).toMatchObject({
      kind: "commit",
      removedSelf: true,
    });
  });
  it("keeps the leaver from committing while its proposal is pending", async () => {
    const { carol } = await carolAsksToLeave();
    await expect(createRoomCommit({ state: carol, federation })).rejects.toThrow(MlsEngineError);
  });
  it("holds back messages while a proposal waits for a commit", async () => {
    const { alice } = await carolAsksToLeave();
    await expect(encryptRoomMessage(alice, hello)).rejects.toThrow(MlsEngineError);
  });
});

describe("proposals other than leaving (section 7)", () => {
  it("refuses a member's proposal to remove another member", async () => {
    const { alice, carol } = await threeMembers();
    const context = { cipherSuite: await cipherSuite(), authService: unsafeTestingAuthenticationService };
    const { message } = await createProposal({
      context,
      state: carol,
      proposal: { proposalType: defaultProposalTypes.remove, remove: { removed: 1 } },
    });
    const ciphertext = encodeBase64Url(encode(mlsMessageEncoder, message));
    await expect(receiveRoomMessage(alice, ciphertext)).rejects.toThrow(/only propose their own removal/);
  });
});

// The removed member's side of a commit, as ts-mls alone computes it (no adapter in between):
// what a client that ignores its removal would hold.
async function processedByTsMls(state: GroupState, ciphertext: string): Promise<GroupState> {
  const message = decode(mlsMessageDecoder, decodeBase64Lenient(ciphertext));
  if (message?.wireformat !== wireformats.mls_private_message) throw new Error("not a private message");
  const context = { cipherSuite: await cipherSuite(), authService: unsafeTestingAuthenticationService };
  const result = await processMessage({ context, state, message });
  return { ...result.newState, groupActiveState: { kind: "active" } };
}

describe("removal by a commit", () => {
  it("removedSelf is reported to the removed member", async () => {
    const { carolReceived } = await aliceRemovesCarol();
    expect(carolReceived).toMatchObject({ kind: "commit", removedSelf: true });
  });
  it("is not reported to the members who stay", async () => {
    const { alice, bob } = await threeMembers();
    const removal = await createRoomCommit({ state: alice, federation, removeLeafIndices: [2] });
    expect(await receiveRoomMessage(bob, removal.ciphertext)).toMatchObject({
      kind: "commit",
      removedSelf: false,
    });
  });
  it("leaves the removed member in the epoch it left, marked removed", async () => {
    const { carolReceived } = await aliceRemovesCarol();
    expect([groupEpoch(carolReceived.state), carolReceived.state.groupActiveState.kind]).toEqual([
      1n,
      "removedFromGroup",
    ]);
  });
  it("lets the removed member still read late messages of the epoch it left", async () => {
    const { alice, carol } = await threeMembers();
    const { ciphertext } = await encryptRoomMessage(alice, hello);
    const removal = await createRoomCommit({ state: alice, federation, removeLeafIndices: [2] });
    const removed = await receiveRoomMessage(carol, removal.ciphertext);
    const late = await receiveRoomMessage(removed.state, ciphertext);
    expect(late.kind === "application" && late.message).toEqual(hello);
  });
  it("refuses later commits to the removed member's state", async () => {
    const { alice, carolReceived } = await aliceRemovesCarol();
    const update = await createRoomCommit({ state: alice, federation });
    await expect(receiveRoomMessage(carolReceived.state, update.ciphertext)).rejects.toThrow(/removed/);
  });
  it("reports removedSelf for a commit with an update path the removed member cannot decrypt", async () => {
    const { alice, carol } = await threeMembers();
    const removal = await createRoomCommit({ state: alice, federation, removeLeafIndices: [1, 2] });
    expect(await receiveRoomMessage(carol, removal.ciphertext)).toMatchObject({
      kind: "commit",
      removedSelf: true,
    });
  });
  it("refuses to remove the committer itself", async () => {
    const { alice } = await threeMembers();
    await expect(createRoomCommit({ state: alice, federation, removeLeafIndices: [0] })).rejects.toThrow(
      MlsEngineError,
    );
  });
});

// ts-mls 2.0.0-rc.10 gives a commit with one Remove alone no update path (RFC 9420 section 12.4
// wants one), so the SDK follows a single removal with a self-update. Carol (leaf 2 of four, so
// that the tree keeps its size) plays a removed member whose client ignores the removal.
describe("the self-update after a single removal", () => {
  async function carolIgnoresHerRemoval() {
    const [alice, bob, carol] = (await members(4)) as [GroupState, GroupState, GroupState];
    const removal = await createRoomCommit({ state: alice, federation, removeLeafIndices: [2] });
    return {
      alice: removal.pendingState,
      bob: (await receiveRoomMessage(bob, removal.ciphertext)).state,
      carol: await processedByTsMls(carol, removal.ciphertext),
    };
  }

  it("is needed: without it the removed member reads the next epoch", async () => {
    const { alice, carol } = await carolIgnoresHerRemoval();
    const read = await sendTo(alice, carol);
    expect(read.kind === "application" && read.message).toEqual(hello);
  });
  it("leaves the removed member unable to process the next commit", async () => {
    const { alice, carol } = await carolIgnoresHerRemoval();
    const update = await createRoomCommit({ state: alice, federation });
    await expect(receiveRoomMessage(carol, update.ciphertext)).rejects.toThrow(/private keys/);
  });
  it("leaves the removed member unable to decrypt the epoch after it", async () => {
    const { alice, carol } = await carolIgnoresHerRemoval();
    const update = await createRoomCommit({ state: alice, federation });
    const { ciphertext } = await encryptRoomMessage(update.pendingState, hello);
    await expect(receiveRoomMessage(carol, ciphertext)).rejects.toThrow(/no secrets for epoch 3/);
  });
  it("still lets the remaining members read the epoch after it", async () => {
    const { alice, bob } = await carolIgnoresHerRemoval();
    const update = await createRoomCommit({ state: alice, federation });
    const bobAfter = (await receiveRoomMessage(bob, update.ciphertext)).state;
    const read = await sendTo(update.pendingState, bobAfter);
    expect(read.kind === "application" && read.message).toEqual(hello);
  });
});

describe("our own messages", () => {
  it("refuses a message from this device's own leaf", async () => {
    const { alice } = await threeMembers();
    const { ciphertext } = await encryptRoomMessage(alice, hello);
    await expect(receiveRoomMessage(alice, ciphertext)).rejects.toThrow(/this device/);
  });
});
