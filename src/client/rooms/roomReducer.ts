// A room's logic as a reducer with no I/O: `(room, input) -> {room', effects}`. The room is an
// immutable value (its record, MLS group and our staged commit); inputs are what sync brought
// (events, a Welcome, an invite, the current commit) and the time; effects are what the driver
// must do (tell the app, settle our commit, store history, ask to be welcomed again). The driver
// stores the new room in one transaction and then carries the effects out.
import { MAX_SECURITY_WINDOW_SECONDS } from "../../protocol/federationObject.js";
import { CREATE_EVENT_TYPE, ENCRYPTED_EVENT_TYPE, namesForRoomVersion } from "../../protocol/names.js";
import {
  groupEpoch,
  groupMembers,
  pruneEpochSecrets,
  receiveRoomMessage,
  wipeConsumedSecrets,
  type GroupState,
  type PendingCommit,
} from "../mls/engine.js";
import { stageCommit, type StagedCommit } from "../mls/stagedCommit.js";
import type { ClientEvent, DeviceRef, TimelineMessage } from "../events.js";
import type { StrippedStateEvent } from "../wire/sync.js";
import { framedEpoch } from "./framing.js";
import { MAX_BUFFERED_EVENTS, newRoomRecord, type RoomEvent, type RoomRecord } from "./roomRecord.js";

export type CommitSettlement = "accepted" | "lost";

/** Everything the SDK holds of one room. */
export interface Room {
  readonly record: RoomRecord;
  readonly group: GroupState | undefined;
  /** Our commit in flight, as the engine made it (its next-epoch state): `record.pending` describes it. */
  readonly staged: PendingCommit | undefined;
}

export type RoomEffect =
  | { readonly kind: "emit"; readonly event: ClientEvent }
  /** Our commit `commitId` came back accepted, or another commit took its epoch. */
  | { readonly kind: "settle"; readonly commitId: string; readonly outcome: CommitSettlement }
  /** A decrypted message for the room's history, at position `seq`. */
  | { readonly kind: "timeline"; readonly message: TimelineMessage; readonly seq: number }
  /** The server's current commit is not the one our group follows: we lost a fork (section 5). */
  | { readonly kind: "lostFork"; readonly winningCommit: string };

export interface RoomStep {
  readonly room: Room;
  readonly effects: readonly RoomEffect[];
}

/** What the reducer needs to know besides the room. */
export interface RoomContext {
  readonly own: DeviceRef;
  /** Milliseconds since the epoch, from the driver's clock. */
  readonly now: number;
}

export type RoomInput =
  /** Timeline events in order; `ownEvents` are IDs of events this device sent (never decrypted). */
  | {
      readonly kind: "events";
      readonly events: readonly RoomEvent[];
      readonly ownEvents: ReadonlySet<string>;
    }
  /** Sync lists the room as joined; its state and timeline events may name the room version. */
  | { readonly kind: "joined"; readonly events: readonly RoomEvent[] }
  | { readonly kind: "invited"; readonly state: readonly StrippedStateEvent[] }
  /** Our user left (from another device): the group and its secrets go. */
  | { readonly kind: "left" }
  /** We joined the group from a Welcome. */
  | { readonly kind: "welcome"; readonly group: GroupState; readonly ownEvents: ReadonlySet<string> }
  /** The room's current commit as the homeserver names it. */
  | { readonly kind: "currentCommit"; readonly eventId: string | undefined }
  /** The clock moved: security.window may have run out for past epochs. */
  | { readonly kind: "tick" };

const step = (room: Room, effects: readonly RoomEffect[] = []): RoomStep => ({ room, effects });
const emit = (event: ClientEvent): RoomEffect => ({ kind: "emit", event });

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function undecryptable(room: Room, event: RoomEvent, reason: string): RoomEffect {
  return emit({
    kind: "error",
    roomId: room.record.roomId,
    eventId: event.event_id,
    error: "undecryptable",
    reason,
  });
}

/** The reducer: one input applied to one room. */
export async function reduceRoom(room: Room, input: RoomInput, context: RoomContext): Promise<RoomStep> {
  switch (input.kind) {
    case "events":
      return applyEvents(room, input.events, input.ownEvents, context);
    case "joined": {
      const record = noteJoined(room.record, input.events);
      return step(record === room.record ? room : { ...room, record });
    }
    case "invited":
      return applyInvite(room, input.state);
    case "left":
      return applyLeft(room);
    case "welcome":
      return applyWelcome(room, input.group, input.ownEvents, context);
    case "currentCommit":
      return checkCurrentCommit(room, input.eventId);
    case "tick":
      return pruneExpired(room, context.now);
  }
}

/** A room this device has not seen before. */
export function emptyRoom(roomId: string, membership: RoomRecord["membership"]): Room {
  return { record: newRoomRecord(roomId, membership), group: undefined, staged: undefined };
}

function roomVersionFrom(
  record: RoomRecord,
  events: readonly { type: string; content: Readonly<Record<string, unknown>> }[],
): RoomRecord {
  if (record.roomVersion !== undefined) return record;
  for (const event of events) {
    if (event.type === CREATE_EVENT_TYPE && typeof event.content.room_version === "string") {
      return { ...record, roomVersion: event.content.room_version };
    }
  }
  return record;
}

function noteJoined(record: RoomRecord, events: readonly RoomEvent[]): RoomRecord {
  return roomVersionFrom(
    record.membership === "joined" ? record : { ...record, membership: "joined" },
    events,
  );
}

function applyInvite(room: Room, state: readonly StrippedStateEvent[]): RoomStep {
  const record = room.record;
  if (record.membership === "joined") return step(room);
  const fresh = record.membership !== "invited" || record.inviter === undefined;
  let next: RoomRecord = roomVersionFrom({ ...record, membership: "invited" }, state);
  for (const event of state) {
    if (event.type === "m.room.member" && event.sender) next = { ...next, inviter: event.sender };
  }
  const effects = fresh
    ? [emit({ kind: "invite", roomId: next.roomId, ...(next.inviter ? { inviter: next.inviter } : {}) })]
    : [];
  return step({ ...room, record: next }, effects);
}

/** Our user left the room: this device gets nothing more of it, so its secrets are deleted. */
function applyLeft(room: Room): RoomStep {
  if (!room.group) return step({ ...room, record: { ...room.record, membership: "left" } });
  return step({
    record: {
      ...room.record,
      membership: "left",
      removed: true,
      pending: undefined,
      deliveries: [],
      buffered: [],
      epochLeftAt: {},
    },
    group: undefined,
    staged: undefined,
  });
}

/**
 * Section 9: we joined the group from a Welcome. Nothing changes when this device is already in
 * the group (a repeated Welcome); otherwise events buffered while we waited are replayed.
 */
async function applyWelcome(
  room: Room,
  group: GroupState,
  ownEvents: ReadonlySet<string>,
  context: RoomContext,
): Promise<RoomStep> {
  if (room.group && !room.record.removed) return step(room);
  const epoch = groupEpoch(group);
  const { rewelcome: _asked, ...kept } = room.record;
  const record: RoomRecord = {
    ...kept,
    removed: false,
    currentCommitId: undefined, // the next sync names the commit the Welcome follows
    joinedEpoch: Number(epoch),
    epochLeftAt: {},
    pending: undefined,
    federation: undefined, // learnt from the current commit, once we can read the room
    buffered: [],
  };
  const buffered = room.record.buffered.filter((event) => {
    const framed = framedEpoch(event.content.ciphertext);
    return framed === undefined || framed >= epoch;
  });
  const joined: Room = { record, group, staged: undefined };
  const replayed = await processEach(joined, buffered, ownEvents, context);
  return replayed;
}

/**
 * Processes a room's new timeline events in order. Events up to the last one processed are
 * skipped, so a sync replayed after a crash does not decrypt anything twice.
 */
async function applyEvents(
  room: Room,
  events: readonly RoomEvent[],
  ownEvents: ReadonlySet<string>,
  context: RoomContext,
): Promise<RoomStep> {
  let fresh = events;
  const last = room.record.lastEventId;
  if (last !== undefined) {
    const seen = events.findIndex((event) => event.event_id === last);
    if (seen >= 0) fresh = events.slice(seen + 1);
  }
  return processEach(room, fresh, ownEvents, context, true);
}

async function processEach(
  room: Room,
  events: readonly RoomEvent[],
  ownEvents: ReadonlySet<string>,
  context: RoomContext,
  markProcessed = false,
): Promise<RoomStep> {
  let current = room;
  const effects: RoomEffect[] = [];
  for (const event of events) {
    const result = await processOne(current, event, ownEvents, context);
    current = result.room;
    effects.push(...result.effects);
    if (markProcessed) current = { ...current, record: { ...current.record, lastEventId: event.event_id } };
  }
  return step(current, effects);
}

async function processOne(
  room: Room,
  event: RoomEvent,
  ownEvents: ReadonlySet<string>,
  context: RoomContext,
): Promise<RoomStep> {
  const record = room.record;
  const names = record.roomVersion ? namesForRoomVersion(record.roomVersion) : undefined;
  const relevant =
    event.type === ENCRYPTED_EVENT_TYPE || (names !== undefined && event.type === names.commitType);
  if (!relevant) return step(room); // the create event; pending commits come back as commits once applied
  if (!room.group) {
    // Not in the group (yet): keep what may be ours to read once the Welcome arrives.
    if (record.removed || record.buffered.length >= MAX_BUFFERED_EVENTS) return step(room);
    return step({ ...room, record: { ...record, buffered: [...record.buffered, event] } });
  }
  if (event.type === ENCRYPTED_EVENT_TYPE) return message(room, room.group, event, ownEvents);
  return commit(room, room.group, event, context);
}

async function commit(
  room: Room,
  group: GroupState,
  event: RoomEvent,
  context: RoomContext,
): Promise<RoomStep> {
  const record = room.record;
  const epoch = framedEpoch(event.content.ciphertext);
  const current = groupEpoch(group);
  if (epoch === undefined || epoch < current) return step(room); // before our time, or already applied
  if (epoch > current) {
    return step(room, [
      undecryptable(
        room,
        event,
        `commit for epoch ${epoch} while this device is in epoch ${current}: a commit was missed`,
      ),
    ]);
  }
  const ours = record.pending && BigInt(record.pending.epoch) === epoch ? record.pending : undefined;
  const staged = ours ? room.staged : undefined;
  let commitValue: StagedCommit;
  try {
    const result = await receiveRoomMessage(group, event.content.ciphertext as string, staged);
    if (result.kind === "ownCommit") {
      commitValue = stageCommit(group, {
        own: true,
        state: result.state,
        federation: ours?.federation ?? record.federation!,
      });
    } else if (result.kind === "commit") {
      commitValue = stageCommit(group, {
        own: false,
        state: result.state,
        authenticatedData: result.authenticatedData,
        removedSelf: result.removedSelf,
      });
    } else return step(room);
  } catch (error) {
    const effects: RoomEffect[] = [
      undecryptable(room, event, `commit could not be processed: ${describe(error)}`),
    ];
    if (ours) effects.push({ kind: "settle", commitId: ours.id, outcome: "lost" });
    return step(room, effects);
  }
  if (commitValue.own && staged) wipeConsumedSecrets(staged);
  return mergeCommit(room, commitValue, event.event_id, context.now);
}

/**
 * The one step in which a commit that came back as its epoch's commit changes the room: its
 * group state, members, room state and federation object; our own commit in flight is settled
 * (accepted when this is it, lost when another commit took the epoch).
 */
export function mergeCommit(room: Room, commit: StagedCommit, eventId: string, now: number): RoomStep {
  const record = room.record;
  const ours =
    record.pending && BigInt(record.pending.epoch) === commit.fromEpoch ? record.pending : undefined;
  const settle = (outcome: CommitSettlement): RoomEffect[] =>
    ours ? [{ kind: "settle", commitId: ours.id, outcome }] : [];
  let next: RoomRecord = {
    ...record,
    federation: commit.federation ?? record.federation,
    ...(ours ? { pending: undefined } : {}),
  };
  if (ours && commit.own && (ours.added.length > 0 || ours.inviteUsers.length > 0)) {
    next = {
      ...next,
      deliveries: [
        ...next.deliveries,
        {
          id: ours.id,
          ...(ours.welcome ? { welcome: ours.welcome } : {}),
          devices: ours.added.map(({ userId, deviceId }) => ({ userId, deviceId })),
          inviteUsers: [...ours.inviteUsers],
        },
      ],
    };
  }
  if (commit.removedSelf) {
    return step(
      {
        record: { ...next, removed: true, leavers: [], epochLeftAt: {} },
        group: undefined,
        staged: undefined,
      },
      [emit({ kind: "removed", roomId: record.roomId }), ...settle("lost")],
    );
  }
  const after = groupMembers(commit.state);
  next = {
    ...next,
    // ts-mls rc.10 sends a single removal without an update path: refresh before the next send.
    needsPathUpdate: commit.removed.length === 1,
    leavers: next.leavers.filter((leaver) => after.some((m) => m.userId === leaver.userId)),
    epochLeftAt: { ...next.epochLeftAt, [String(commit.fromEpoch)]: now },
    currentCommitId: eventId,
  };
  const pruned = pruneRoom(next, commit.state, now);
  const effects: RoomEffect[] = [...settle(commit.own ? "accepted" : "lost")];
  if (commit.added.length > 0 || commit.removed.length > 0) {
    effects.push(
      emit({ kind: "membership", roomId: record.roomId, added: commit.added, removed: commit.removed }),
    );
  }
  for (const change of commit.stateChanges)
    effects.push(emit({ kind: "state", roomId: record.roomId, ...change }));
  return step(
    { record: pruned.record, group: pruned.group, staged: ours ? undefined : room.staged },
    effects,
  );
}

async function message(
  room: Room,
  group: GroupState,
  event: RoomEvent,
  ownEvents: ReadonlySet<string>,
): Promise<RoomStep> {
  const record = room.record;
  if (ownEvents.has(event.event_id)) return step(room);
  const epoch = framedEpoch(event.content.ciphertext);
  if (epoch === undefined) return step(room, [undecryptable(room, event, "not an MLS private message")]);
  if (record.joinedEpoch !== undefined && epoch < BigInt(record.joinedEpoch)) return step(room); // before we joined
  try {
    const result = await receiveRoomMessage(group, event.content.ciphertext as string);
    if (result.kind === "application") {
      const message: TimelineMessage = {
        roomId: record.roomId,
        eventId: event.event_id,
        sender: { userId: result.sender.userId, deviceId: result.sender.deviceId },
        type: result.message.type,
        content: result.message.content,
        originServerTs: event.origin_server_ts,
        own: false,
      };
      return step({ ...room, record: { ...record, nextSeq: record.nextSeq + 1 }, group: result.state }, [
        { kind: "timeline", message, seq: record.nextSeq },
        emit({ kind: "message", ...message }),
      ]);
    }
    if (result.kind === "proposal") {
      const leaver = groupMembers(group).find(
        (m) => m.leafIndex === result.senderLeafIndex && result.removedLeafIndices.includes(m.leafIndex),
      );
      const leavers = leaver
        ? [...record.leavers, { userId: leaver.userId, deviceId: leaver.deviceId }]
        : record.leavers;
      return step({ ...room, record: { ...record, leavers }, group: result.state });
    }
    return step(room);
  } catch (error) {
    return step(room, [undecryptable(room, event, describe(error))]);
  }
}

/**
 * Compares the homeserver's current commit with the one our group follows (after the room's
 * timeline was processed). A difference means we are on the losing side of a fork.
 */
function checkCurrentCommit(room: Room, reported: string | undefined): RoomStep {
  if (!room.group || room.record.removed || reported === undefined) return step(room);
  if (room.record.currentCommitId === undefined) {
    // Joined from a Welcome at the current commit.
    return step({ ...room, record: { ...room.record, currentCommitId: reported } });
  }
  if (room.record.currentCommitId === reported) return step(room);
  return step(room, [{ kind: "lostFork", winningCommit: reported }]);
}

/**
 * After a lost fork: the dead branch's group goes (what we read on it stays in the history), and
 * we ask the other members, `to`, to welcome us again with `keyPackage`.
 */
export function dropLostBranch(
  room: Room,
  own: DeviceRef,
  keyPackage: string,
): { room: Room; to: readonly DeviceRef[] } {
  const to = room.group
    ? groupMembers(room.group)
        .filter((m) => !(m.userId === own.userId && m.deviceId === own.deviceId))
        .map(({ userId, deviceId }) => ({ userId, deviceId }))
    : [];
  const record: RoomRecord = {
    ...room.record,
    pending: undefined,
    currentCommitId: undefined,
    epochLeftAt: {},
    buffered: [],
    rewelcome: { keyPackage, to, sentAt: 0 },
  };
  return { room: { record, group: undefined, staged: undefined }, to };
}

/** Deletes the secrets of epochs whose security.window ran out since the last commit. */
function pruneExpired(room: Room, now: number): RoomStep {
  if (!room.group || Object.keys(room.record.epochLeftAt).length === 0) return step(room);
  const pruned = pruneRoom(room.record, room.group, now);
  if (Object.keys(pruned.record.epochLeftAt).length === Object.keys(room.record.epochLeftAt).length) {
    return step(room);
  }
  return step({ ...room, record: pruned.record, group: pruned.group });
}

/** security.window: secrets of epochs left longer ago than the window are deleted. */
function pruneRoom(
  record: RoomRecord,
  group: GroupState,
  now: number,
): { record: RoomRecord; group: GroupState } {
  const windowMs = Math.min(record.federation?.security.window ?? 0, MAX_SECURITY_WINDOW_SECONDS) * 1000;
  const epochLeftAt = Object.fromEntries(
    Object.entries(record.epochLeftAt).filter(([, left]) => now - left < windowMs),
  );
  const keep = (epoch: bigint) => Object.hasOwn(epochLeftAt, String(epoch));
  return { record: { ...record, epochLeftAt }, group: pruneEpochSecrets(group, keep) };
}
