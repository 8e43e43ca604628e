// The SDK's core without a server or network: constructed sync inputs and replies go in, the new
// room and the effects for the driver come out. Groups are real MLS groups (the engine runs here).
import { describe, expect, it } from "vitest";
import {
  createRoomCommit,
  encryptRoomMessage,
  groupEpoch,
  receiveRoomMessage,
  retainedEpochs,
  roomStateOf,
  type GroupState,
  type PendingCommit,
} from "../../../src/client/mls/engine.js";
import { framedEpoch } from "../../../src/client/rooms/framing.js";
import { encryptOutgoing, settleSend } from "../../../src/client/rooms/outgoing.js";
import { dropOwnCommit, stageOwnCommit } from "../../../src/client/rooms/ownCommit.js";
import { planSetState } from "../../../src/client/rooms/planners.js";
import {
  dropLostBranch,
  emptyRoom,
  reduceRoom,
  type Room,
  type RoomEffect,
  type RoomInput,
} from "../../../src/client/rooms/roomReducer.js";
import type { PendingCommitRecord, RoomEvent } from "../../../src/client/rooms/roomRecord.js";
import type { FederationObject } from "../../../src/protocol/federationObject.js";
import {
  DEFAULT_ROOM_VERSION,
  ENCRYPTED_EVENT_TYPE,
  namesForRoomVersion,
} from "../../../src/protocol/names.js";
import { ROOM_ID, threeMembers } from "../mls/twoMembers.js";

const COMMIT_TYPE = namesForRoomVersion(DEFAULT_ROOM_VERSION)!.commitType;
const BOB = { userId: "@bob:b.example", deviceId: "BOB" };
const T0 = 1_700_000_000_000;
const none = new Set<string>();

const federationWith = (window: number): FederationObject => ({
  federation: {
    powers: ["a.example"],
    servers: ["a.example", "b.example"],
    canPropose: ["a.example", "b.example"],
  },
  security: { window, requiredVerification: "m.none" },
});

let ids = 0;
const roomEvent = (type: string, ciphertext: string): RoomEvent => ({
  event_id: `$e${++ids}`,
  type,
  content: { algorithm: "x", ciphertext },
  origin_server_ts: T0,
});
const commitEvent = (commit: PendingCommit) => roomEvent(COMMIT_TYPE, commit.ciphertext);
const messageEvent = async (sender: GroupState, body: string) =>
  roomEvent(
    ENCRYPTED_EVENT_TYPE,
    (await encryptRoomMessage(sender, { type: "m.room.message", content: { body } })).ciphertext,
  );

/** Bob's room as his device holds it in epoch 1, optionally with his own commit in flight. */
function bobRoom(
  group: GroupState,
  window = 0,
  inFlight?: { record: PendingCommitRecord; staged: PendingCommit },
): Room {
  const base = emptyRoom(ROOM_ID, "joined");
  return {
    record: {
      ...base.record,
      roomVersion: DEFAULT_ROOM_VERSION,
      federation: federationWith(window),
      currentCommitId: "$epoch1",
      ...(inFlight ? { pending: inFlight.record } : {}),
    },
    group,
    staged: inFlight?.staged,
  };
}

async function bobsCommit(group: GroupState, topic: string) {
  const planned = await planSetState("m.room.topic", "", { topic })(bobRoom(group).record, group);
  const staged = await createRoomCommit({
    state: group,
    federation: planned!.federation,
    roomState: planned!.roomState!,
  });
  const record: PendingCommitRecord = {
    id: "bob-commit",
    epoch: Number(groupEpoch(group)),
    intent: { kind: "setState", eventType: "m.room.topic", stateKey: "" },
    ciphertext: staged.ciphertext,
    added: [],
    inviteUsers: [],
    federation: planned!.federation,
  };
  return { record, staged };
}

async function run(room: Room, inputs: readonly RoomInput[], now = T0) {
  const effects: RoomEffect[] = [];
  let current = room;
  for (const input of inputs) {
    const result = await reduceRoom(current, input, { own: BOB, now });
    current = result.room;
    effects.push(...result.effects);
  }
  return { room: current, effects };
}

const kinds = (effects: readonly RoomEffect[]) =>
  effects.map((effect) => (effect.kind === "emit" ? `emit:${effect.event.kind}` : effect.kind));

describe("a commit race (section 6)", () => {
  it("lost: another commit takes the epoch, ours is dropped and settled lost", async () => {
    const { alice, bob } = await threeMembers();
    const ours = await bobsCommit(bob, "Bob's topic");
    const theirs = await createRoomCommit({
      state: alice,
      federation: federationWith(0),
      roomState: { "m.room.topic": { "": { topic: "Alice's" } } },
    });
    const { room, effects } = await run(bobRoom(bob, 0, ours), [
      { kind: "events", events: [commitEvent(theirs)], ownEvents: none },
    ]);
    expect(effects).toContainEqual({ kind: "settle", commitId: "bob-commit", outcome: "lost" });
    expect(room.record.pending).toBeUndefined();
    expect(room.staged).toBeUndefined();
    expect(roomStateOf(room.group!)["m.room.topic"]?.[""]).toEqual({ topic: "Alice's" });
  });

  it("re-planned on the winning epoch, then accepted: the new commit merges in one step", async () => {
    const { alice, bob } = await threeMembers();
    const theirs = await createRoomCommit({
      state: alice,
      federation: federationWith(0),
      roomState: { "m.room.topic": { "": { topic: "Alice's" } } },
    });
    const lost = await run(bobRoom(bob, 0, await bobsCommit(bob, "Bob's topic")), [
      { kind: "events", events: [commitEvent(theirs)], ownEvents: none },
    ]);
    const retry = await bobsCommit(lost.room.group!, "Bob's topic");
    expect(retry.record.epoch).toBe(2);
    const inFlight: Room = {
      ...lost.room,
      record: { ...lost.room.record, pending: retry.record },
      staged: retry.staged,
    };
    const { room, effects } = await run(inFlight, [
      { kind: "events", events: [commitEvent(retry.staged)], ownEvents: none },
    ]);
    expect(kinds(effects)).toEqual(["settle", "emit:state"]);
    expect(effects[0]).toEqual({ kind: "settle", commitId: "bob-commit", outcome: "accepted" });
    expect(groupEpoch(room.group!)).toBe(3n);
    expect(room.record.pending).toBeUndefined();
    expect(roomStateOf(room.group!)["m.room.topic"]?.[""]).toEqual({ topic: "Bob's topic" });
  });

  it("a commit of a later epoch than ours is reported as missed, and changes nothing", async () => {
    const { alice, bob } = await threeMembers();
    const first = await createRoomCommit({ state: alice, federation: federationWith(0) });
    const second = await createRoomCommit({ state: first.pendingState, federation: federationWith(0) });
    const before = bobRoom(bob);
    const { room, effects } = await run(before, [
      { kind: "events", events: [commitEvent(second)], ownEvents: none },
    ]);
    expect(kinds(effects)).toEqual(["emit:error"]);
    expect(room.group).toBe(before.group);
  });
});

describe("our commit refused with a 409 (D12), then re-planned", () => {
  const intent = { kind: "setState", eventType: "m.room.topic", stateKey: "" } as const;
  const plan = (room: Room) => planSetState("m.room.topic", "", { topic: "Bob's" })(room.record, room.group!);

  it("is sent as a pending commit from a server that is not powers[0], dropped on the 409, and made again on the winning epoch", async () => {
    const { alice, bob } = await threeMembers();
    const room = bobRoom(bob);
    const first = await stageOwnCommit(room, {
      intent,
      plan: (await plan(room))!,
      id: "c1",
      serverName: "b.example",
    });
    expect(first.request.route).toEqual({ kind: "pending", eventType: expect.any(String), txnId: "c1" });
    expect(first.room.record.pending?.epoch).toBe(1);
    expect(first.room.staged).toBeDefined();

    const dropped = dropOwnCommit(first.room);
    expect(dropped.record.pending).toBeUndefined();
    expect(dropped.staged).toBeUndefined();
    expect(dropped.group).toBe(room.group);

    const winner = await createRoomCommit({ state: alice, federation: federationWith(0) });
    const caughtUp = await run(dropped, [{ kind: "events", events: [commitEvent(winner)], ownEvents: none }]);
    const again = await stageOwnCommit(caughtUp.room, {
      intent,
      plan: (await plan(caughtUp.room))!,
      id: "c2",
      serverName: "b.example",
    });
    expect(again.room.record.pending?.epoch).toBe(2);
    expect(framedEpoch(again.request.body.ciphertext)).toBe(2n);
  });

  it("is sent as the commit state event by powers[0]", async () => {
    const { bob } = await threeMembers();
    const room = bobRoom(bob);
    const staged = await stageOwnCommit(room, {
      intent,
      plan: (await plan(room))!,
      id: "c1",
      serverName: "a.example",
    });
    expect(staged.request.route).toEqual({ kind: "state", eventType: COMMIT_TYPE });
  });

  it("is refused before it is made when our server may not propose (can_propose)", async () => {
    const { bob } = await threeMembers();
    const room = bobRoom(bob);
    const made = stageOwnCommit(room, {
      intent,
      plan: (await plan(room))!,
      id: "c1",
      serverName: "c.example",
    });
    await expect(made).rejects.toMatchObject({ code: "CANNOT_COMMIT" });
  });
});

describe("a Welcome before the invite", () => {
  it("joins the group, replays what was buffered, and the later invite is still announced once", async () => {
    const { alice, bob } = await threeMembers();
    const early = await messageEvent(alice, "sent before Bob's Welcome was processed");
    const room = emptyRoom(ROOM_ID, "invited");
    const noVersion = { ...room, record: { ...room.record, roomVersion: DEFAULT_ROOM_VERSION } };
    const { room: after, effects } = await run(noVersion, [
      { kind: "events", events: [early], ownEvents: none },
      { kind: "welcome", group: bob, ownEvents: none },
      {
        kind: "invited",
        state: [{ type: "m.room.member", sender: "@alice:a.example", state_key: BOB.userId, content: {} }],
      },
      {
        kind: "invited",
        state: [{ type: "m.room.member", sender: "@alice:a.example", state_key: BOB.userId, content: {} }],
      },
    ]);
    expect(kinds(effects)).toEqual(["timeline", "emit:message", "emit:invite"]);
    expect(effects[0]).toMatchObject({
      kind: "timeline",
      seq: 0,
      message: { sender: { deviceId: "ALICE" } },
    });
    expect(after.record.buffered).toEqual([]);
    expect(after.record.inviter).toBe("@alice:a.example");
    expect(after.record.membership).toBe("invited");
    expect(groupEpoch(after.group!)).toBe(1n);
  });

  it("a second Welcome for a group we are in changes nothing", async () => {
    const { bob } = await threeMembers();
    const inRoom = bobRoom(bob);
    const { room } = await run(inRoom, [{ kind: "welcome", group: bob, ownEvents: none }]);
    expect(room).toBe(inRoom);
  });
});

describe("a re-welcome after a lost fork (section 5)", () => {
  it("a current commit other than ours asks for a re-welcome; the branch is dropped; a new Welcome rejoins", async () => {
    const { alice, bob } = await threeMembers();
    const { effects } = await run(bobRoom(bob), [{ kind: "currentCommit", eventId: "$winner" }]);
    expect(effects).toEqual([{ kind: "lostFork", winningCommit: "$winner" }]);

    const dropped = dropLostBranch(bobRoom(bob), BOB, "KEYPACKAGE");
    expect(dropped.room.group).toBeUndefined();
    expect(dropped.to.map((d) => d.deviceId).sort()).toEqual(["ALICE", "CAROL"]);
    expect(dropped.room.record.rewelcome?.keyPackage).toBe("KEYPACKAGE");

    const { room } = await run(dropped.room, [{ kind: "welcome", group: alice, ownEvents: none }]);
    expect(room.record.rewelcome).toBeUndefined();
    expect(room.group).toBe(alice);
  });

  it("the current commit our group follows, or a first one after a Welcome, is no fork", async () => {
    const { bob } = await threeMembers();
    expect((await run(bobRoom(bob), [{ kind: "currentCommit", eventId: "$epoch1" }])).effects).toEqual([]);
    const fresh: Room = { ...bobRoom(bob), record: { ...bobRoom(bob).record, currentCommitId: undefined } };
    const { room, effects } = await run(fresh, [{ kind: "currentCommit", eventId: "$c" }]);
    expect(effects).toEqual([]);
    expect(room.record.currentCommitId).toBe("$c");
  });
});

describe("security.window pruning with a fake clock (section 3)", () => {
  const table: [string, number, bigint[]][] = [
    ["within the window the left epoch is kept", 59_000, [1n, 2n]],
    ["once the window has passed it is deleted", 60_000, [2n]],
  ];
  for (const [name, later, retained] of table) {
    it(name, async () => {
      const { alice, bob } = await threeMembers();
      const next = await createRoomCommit({ state: alice, federation: federationWith(60) });
      const merged = await run(
        bobRoom(bob, 60),
        [{ kind: "events", events: [commitEvent(next)], ownEvents: none }],
        T0,
      );
      expect(merged.room.record.epochLeftAt).toEqual({ "1": T0 });
      const { room } = await run(merged.room, [{ kind: "tick" }], T0 + later);
      expect(retainedEpochs(room.group!).filter((e) => e > 0n)).toEqual(retained.filter((e) => e < 2n));
    });
  }
});

describe("a 409 on a send (D14)", () => {
  const entry = { roomId: ROOM_ID, txnId: "t1", type: "m.room.message", content: { body: "hi" } };
  const context = { own: BOB, now: T0 };

  it("leads to catch-up and re-encryption in the new epoch, which the others read", async () => {
    const { alice, bob } = await threeMembers();
    const stale = await encryptOutgoing(bobRoom(bob), entry);
    expect(framedEpoch(stale!.request.body.ciphertext)).toBe(1n);
    expect(settleSend(stale!.room, entry, { kind: "epochMoved" }, context)).toBe("catchUp");

    // Catching up: the sync brings Alice's commit that moved the room to epoch 2.
    const moved = await createRoomCommit({ state: alice, federation: federationWith(0) });
    const caughtUp = await run(stale!.room, [
      { kind: "events", events: [commitEvent(moved)], ownEvents: none },
    ]);
    const fresh = await encryptOutgoing(caughtUp.room, entry);
    expect(framedEpoch(fresh!.request.body.ciphertext)).toBe(2n);
    const read = await receiveRoomMessage(moved.pendingState, fresh!.request.body.ciphertext);
    expect(read.kind === "application" && read.message.content).toEqual({ body: "hi" });

    const taken = settleSend(fresh!.room, entry, { kind: "taken", eventId: "$sent" }, context);
    expect(taken !== "catchUp" && kinds(taken.effects)).toEqual(["timeline", "emit:message"]);
    expect(taken !== "catchUp" && taken.effects[0]).toMatchObject({
      kind: "timeline",
      seq: 0,
      message: { eventId: "$sent", own: true, sender: BOB },
    });
  });

  it("is not encrypted at all when this device is not in the group", async () => {
    const { bob } = await threeMembers();
    const removed: Room = { ...bobRoom(bob), record: { ...bobRoom(bob).record, removed: true } };
    expect(await encryptOutgoing(removed, entry)).toBeUndefined();
  });
});

describe("sync's joined rooms", () => {
  it("a room already known as joined, with its version, is left as it is (nothing to store)", async () => {
    const { bob } = await threeMembers();
    const room = bobRoom(bob);
    expect((await run(room, [{ kind: "joined", events: [] }])).room).toBe(room);
  });
  it("an invited room becomes joined and learns its version from the create event", async () => {
    const invited = emptyRoom(ROOM_ID, "invited");
    const create: RoomEvent = {
      event_id: "$create",
      type: "m.room.create",
      content: { room_version: DEFAULT_ROOM_VERSION },
      origin_server_ts: T0,
    };
    const { room } = await run(invited, [{ kind: "joined", events: [create] }]);
    expect(room.record).toMatchObject({ membership: "joined", roomVersion: DEFAULT_ROOM_VERSION });
  });
});
