import {
  createCommit,
  defaultExtensionTypes,
  defaultProposalTypes,
  encode,
  makeCustomExtension,
  mlsMessageEncoder,
  unsafeTestingAuthenticationService,
  type GroupContextExtension,
} from "ts-mls";
import { describe, expect, it } from "vitest";
import {
  MAX_ROOM_STATE_BYTES,
  MlsEngineError,
  ROOM_STATE_EXTENSION_TYPE,
  checkRoomStateEntry,
  cipherSuite,
  createRoomCommit,
  receiveRoomMessage,
  roomStateOf,
  type GroupState,
  type RoomStateMap,
} from "../../../src/client/mls/engine.js";
import { MLS_CONTENT_TYPE, readMlsFraming } from "../../../src/protocol/mlsFraming.js";
import { decodeBase64Lenient, encodeBase64Url } from "../../../src/protocol/base64.js";
import { federation, twoMembers } from "./twoMembers.js";

const named: RoomStateMap = { "m.room.name": { "": { name: "Lab" } } };

async function aliceSetsState(roomState: RoomStateMap) {
  const { alice, bob } = await twoMembers();
  const commit = await createRoomCommit({ state: alice, federation, roomState });
  const received = await receiveRoomMessage(bob, commit.ciphertext);
  return { commit, alice: commit.pendingState, bob: received.state };
}

// A member's commit changing the extensions with ts-mls directly, past the adapter's own checks.
async function commitExtensions(
  state: GroupState,
  change: (extension: GroupContextExtension) => GroupContextExtension,
): Promise<string> {
  const { commit } = await createCommit({
    context: { cipherSuite: await cipherSuite(), authService: unsafeTestingAuthenticationService },
    state,
    extraProposals: [
      {
        proposalType: defaultProposalTypes.group_context_extensions,
        groupContextExtensions: { extensions: state.groupContext.extensions.map(change) },
      },
    ],
  });
  return encodeBase64Url(encode(mlsMessageEncoder, commit));
}

function extensionTypes(state: GroupState): number[] {
  return state.groupContext.extensions.map((extension) => extension.extensionType);
}

describe("encrypted room state (section 8)", () => {
  it("starts as the empty map", async () => {
    const { bob } = await twoMembers();
    expect(roomStateOf(bob)).toEqual({});
  });
  it("sets the room name through a GroupContextExtensions commit that the other member reads (section 8)", async () => {
    const { bob } = await aliceSetsState(named);
    expect(roomStateOf(bob)).toEqual(named);
  });
  it("travels as an MLS commit", async () => {
    const { commit } = await aliceSetsState(named);
    expect(readMlsFraming(decodeBase64Lenient(commit.ciphertext)).contentType).toBe(MLS_CONTENT_TYPE.commit);
  });
  it("keeps required_capabilities when the state changes", async () => {
    const { alice, bob } = await twoMembers();
    const before = extensionTypes(bob);
    const commit = await createRoomCommit({ state: alice, federation, roomState: named });
    const after = (await receiveRoomMessage(bob, commit.ciphertext)).state;
    expect(extensionTypes(after)).toEqual(before);
  });
  it("replaces the whole map: an entry left out is gone", async () => {
    const { alice, bob } = await aliceSetsState({ ...named, "m.room.topic": { "": { topic: "t" } } });
    const commit = await createRoomCommit({ state: alice, federation, roomState: named });
    const after = (await receiveRoomMessage(bob, commit.ciphertext)).state;
    expect(roomStateOf(after)).toEqual(named);
  });
  it("is stored as canonical JSON", async () => {
    const { bob } = await aliceSetsState({ "m.room.topic": { "": { z: 1, a: "é" } } });
    const data = bob.groupContext.extensions.find((e) => e.extensionType === ROOM_STATE_EXTENSION_TYPE);
    expect(new TextDecoder().decode(data?.extensionData as Uint8Array)).toBe(
      '{"m.room.topic":{"":{"a":"é","z":1}}}',
    );
  });
  it("refuses a commit whose room state is not canonical JSON", async () => {
    const { alice, bob } = await twoMembers();
    const loose = new TextEncoder().encode('{ "m.room.name": {"": {"name": "x"}} }');
    const commit = await commitExtensions(alice, (extension) =>
      extension.extensionType === ROOM_STATE_EXTENSION_TYPE
        ? makeCustomExtension({ extensionType: ROOM_STATE_EXTENSION_TYPE, extensionData: loose })
        : extension,
    );
    await expect(receiveRoomMessage(bob, commit)).rejects.toThrow(/not canonical JSON/);
  });
  it("refuses a commit that no longer requires the room state extension of every member", async () => {
    const { alice, bob } = await twoMembers();
    const commit = await commitExtensions(alice, (extension) =>
      extension.extensionType === defaultExtensionTypes.required_capabilities
        ? {
            extensionType: defaultExtensionTypes.required_capabilities,
            extensionData: { extensionTypes: [], proposalTypes: [], credentialTypes: [] },
          }
        : extension,
    );
    await expect(receiveRoomMessage(bob, commit)).rejects.toThrow(/not required of every member/);
  });
  it("refuses to commit a map larger than 32 KiB", async () => {
    const { alice } = await twoMembers();
    const big = { "m.room.topic": { "": { topic: "x".repeat(MAX_ROOM_STATE_BYTES) } } };
    await expect(createRoomCommit({ state: alice, federation, roomState: big })).rejects.toThrow(/32768/);
  });
  it("refuses to commit a map with an invalid entry", async () => {
    const { alice } = await twoMembers();
    const bad = { "m.room.create": { "": {} } };
    await expect(createRoomCommit({ state: alice, federation, roomState: bad })).rejects.toThrow(
      MlsEngineError,
    );
  });
});

describe("room state entries (section 8)", () => {
  it("accepts an ordinary entry with an empty state key", () => {
    expect(() => checkRoomStateEntry("m.room.name", "", { name: "Lab" })).not.toThrow();
  });
  it("accepts 255-character event types and state keys", () => {
    expect(() => checkRoomStateEntry("t".repeat(255), "k".repeat(255), {})).not.toThrow();
  });
  it("counts characters, not UTF-16 units", () => {
    expect(() => checkRoomStateEntry("m.emoji", "😀".repeat(255), {})).not.toThrow();
  });
  it("refuses an empty event type", () => {
    expect(() => checkRoomStateEntry("", "", {})).toThrow(/event type has 0 characters/);
  });
  it("refuses an event type longer than 255 characters", () => {
    expect(() => checkRoomStateEntry("t".repeat(256), "", {})).toThrow(/event type has 256 characters/);
  });
  it("refuses a state key longer than 255 characters", () => {
    expect(() => checkRoomStateEntry("m.room.name", "k".repeat(256), {})).toThrow(/state key has 256/);
  });
  it("refuses a control character in an event type", () => {
    expect(() => checkRoomStateEntry("m.room\u0000name", "", {})).toThrow(/control character/);
  });
  it("refuses a control character in a state key", () => {
    expect(() => checkRoomStateEntry("m.room.name", "a\u007fb", {})).toThrow(/control character/);
  });
  it("refuses a lone surrogate in a state key", () => {
    expect(() => checkRoomStateEntry("m.room.name", "\ud800", {})).toThrow(/lone surrogate/);
  });
  it.each([
    "m.room.create",
    "m.room.encrypted",
    "de.bwi.mls.commit",
    "m.mls.pending_commit",
    "m.mls.proposed_commit",
  ])("refuses the PDU type %s as an event type", (eventType) => {
    expect(() => checkRoomStateEntry(eventType, "", {})).toThrow(/PDU type/);
  });
  it.each([
    ["an array", []],
    ["null", null],
    ["a string", "x"],
  ])("refuses %s as content", (_what, content) => {
    expect(() => checkRoomStateEntry("m.room.name", "", content)).toThrow(/not a JSON object/);
  });
  it("refuses content canonical JSON cannot write", () => {
    expect(() => checkRoomStateEntry("m.room.name", "", { size: 1.5 })).toThrow(/not a safe integer/);
  });
});
