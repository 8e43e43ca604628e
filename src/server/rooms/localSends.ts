// The delivery-service duties of section 6 for local clients, and local network membership
// (section 7): create, send, invite, join, leave. Every event is built, signed and checked with
// the protocol layer's rules inside one write job, so "one commit per epoch" holds under
// concurrency: jobs never interleave.
import { randomBytes } from "node:crypto";
import { ciphersuites } from "ts-mls";
import { parseCiphertext } from "../../protocol/auth/authEvent.js";
import { authorizeAgainstState, authorizeEvent } from "../../protocol/auth/rules.js";
import {
  CREATE_EVENT_TYPE,
  defaultAlgorithm,
  eventKind,
  namesForRoomVersion,
  type RoomVersionNames,
} from "../../protocol/names.js";
import { signPdu } from "../../protocol/pdu/signing.js";
import { MAX_PREV_EVENTS, type UnsignedPdu } from "../../protocol/pdu/types.js";
import { badJson, forbidden, MatrixError, notFound, unsupportedRoomVersion } from "../errors.js";
import type { WriteTransaction } from "../storage/database.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { eventDestinations } from "./destinations.js";
import { sendRemoteInvite } from "./outboundInvite.js";
import type { RoomDeps, RoomUser, RoomsContext } from "./ports.js";
import { rejectionToError } from "./roomErrors.js";
import { currentCommit, loadRoom, loadRoomOf, rememberAuthEvent, requireJoined } from "./roomState.js";
import {
  extremities,
  getSendContext,
  getMembership,
  insertEvent,
  insertPendingCommit,
  insertRoom,
  joinedLocalUsers,
  recordTxn,
  setCurrentCommit,
  setMembership,
} from "./roomStore.js";

// D24: fields that would put room data in plaintext or bypass MLS.
const REFUSED_CREATE_FIELDS = [
  "name",
  "topic",
  "invite",
  "invite_3pid",
  "initial_state",
  "power_level_content_override",
  "room_alias_name",
];

function chooseAlgorithm(names: RoomVersionNames, requested: unknown): string {
  if (requested === undefined) return defaultAlgorithm(names);
  if (typeof requested !== "string" || !requested.startsWith(names.prefix)) {
    throw badJson(`creation_content.algorithm must start with ${names.prefix}`);
  }
  if (!(requested.slice(names.prefix.length) in ciphersuites)) {
    throw badJson(`creation_content.algorithm names an unknown ciphersuite: ${requested}`);
  }
  return requested;
}

export async function createRoom(
  ctx: RoomsContext,
  session: RoomUser,
  body: Readonly<JsonObject>,
): Promise<string> {
  for (const field of REFUSED_CREATE_FIELDS) {
    if (body[field] !== undefined) {
      throw badJson(`D24: ${field} is not allowed in MLS rooms; set room data inside the MLS group`);
    }
  }
  if (body.visibility === "public") throw badJson("D24: MLS rooms cannot be public");
  const roomVersion = body.room_version ?? namesForRoomVersion("de.bwi.mls.v1")?.roomVersion;
  const names = typeof roomVersion === "string" ? namesForRoomVersion(roomVersion) : undefined;
  if (typeof roomVersion !== "string" || names === undefined)
    throw unsupportedRoomVersion(String(roomVersion));
  const creationContent = body.creation_content ?? {};
  if (!isJsonObject(creationContent)) throw badJson("creation_content must be an object");
  const algorithm = chooseAlgorithm(names, creationContent.algorithm ?? creationContent.encryption_algorithm);
  const federate = creationContent["m.federate"];
  if (federate !== undefined && typeof federate !== "boolean") throw badJson("m.federate must be a boolean");

  const roomId = `!${randomBytes(12).toString("base64url")}:${ctx.config.serverName}`;
  const content: Record<string, unknown> = { room_version: roomVersion, algorithm };
  if (federate !== undefined) content["m.federate"] = federate;
  const unsigned: UnsignedPdu = {
    room_id: roomId,
    type: CREATE_EVENT_TYPE,
    state_key: "",
    origin: ctx.config.serverName,
    origin_server_ts: ctx.clock.now(),
    content,
    prev_events: [],
    auth_events: [],
  };
  const { pdu, eventId } = signPdu(unsigned, ctx.signingKey, ctx.crypto);
  const outcome = authorizeEvent(pdu, () => undefined);
  if (!outcome.ok) throw rejectionToError(outcome.rejection, undefined);
  await ctx.db.write(async (tx) => {
    const position = await insertEvent(tx, eventId, pdu);
    await insertRoom(
      tx,
      { room_id: roomId, room_version: roomVersion, create_event_id: eventId, current_commit_id: null },
      pdu.origin_server_ts,
    );
    await setMembership(tx, {
      roomId,
      userId: session.userId,
      membership: "join",
      inviter: null,
      timelineFrom: position,
    });
  });
  ctx.notifier.wake([session.userId]);
  return roomId;
}

export interface SendRequest {
  readonly roomId: string;
  readonly type: string;
  readonly content: Readonly<Record<string, unknown>>;
  readonly stateKey?: string;
  readonly txnId?: string;
}

/** Builds, checks and stores one event from a local client; returns its event ID. */
export async function sendRoomEvent(
  ctx: RoomsContext,
  deps: RoomDeps,
  session: RoomUser,
  request: SendRequest,
): Promise<string> {
  const result = await ctx.db.write((tx) => sendInTransaction(ctx, deps, tx, session, request));
  // Read after the commit, off the single writer's path.
  if (result.stored) {
    deps.peers.wake();
    ctx.notifier.wake(await joinedLocalUsers(ctx.db, request.roomId));
  }
  return result.eventId;
}

async function sendInTransaction(
  ctx: RoomsContext,
  deps: RoomDeps,
  tx: WriteTransaction,
  session: RoomUser,
  request: SendRequest,
): Promise<{ eventId: string; stored: boolean }> {
  const context = await getSendContext(
    tx,
    request.roomId,
    session.userId,
    session.deviceId,
    request.txnId ?? null,
  );
  if (context?.membership !== "join") throw forbidden(`You are not joined to room ${request.roomId}`);
  if (context.earlier_event_id !== null) return { eventId: context.earlier_event_id, stored: false };
  const room = await loadRoomOf(tx, context);
  const kind = eventKind(room.names, request.type);
  // D13 is checked before the rules: only powers[0] takes direct commits from its clients.
  const powers = room.state.commit?.federation?.federation.powers;
  if (kind === "commit" && powers !== undefined && powers[0] !== ctx.config.serverName) {
    throw forbidden(
      `D13: this server is not the first power of the room; send a pending commit (${room.names.pendingType})`,
    );
  }
  // Only a commit's epoch changes its auth events (D16: the epoch-0 commit names no commit).
  const framing = kind === "commit" ? parseCiphertext(request.content) : undefined;
  const epochZeroCommit = framing?.ok === true && framing.value.epoch === 0n;
  const authEvents = [room.row.create_event_id];
  if (room.state.commit && !epochZeroCommit) authEvents.push(room.state.commit.eventId);
  const unsigned: UnsignedPdu = {
    room_id: request.roomId,
    type: request.type,
    ...(request.stateKey !== undefined ? { state_key: request.stateKey } : {}),
    origin: ctx.config.serverName,
    origin_server_ts: ctx.clock.now(),
    content: request.content,
    prev_events: await extremities(tx, request.roomId, MAX_PREV_EVENTS),
    auth_events: authEvents,
  };
  const { pdu, eventId } = signPdu(unsigned, ctx.signingKey, ctx.crypto);
  const known = new Map(
    [room.state.create, room.state.commit].flatMap((e) => (e ? [[e.eventId, e] as const] : [])),
  );
  // D10: the rules against the event's own auth events, then against the current state. The
  // event was built on the current state, so the two differ only for an epoch-0 commit into a
  // room that already has a commit (R9.2); only then is the second check not a repeat.
  const own = authorizeEvent(pdu, (id) => known.get(id));
  const outcome =
    own.ok && epochZeroCommit && room.state.commit ? authorizeAgainstState(pdu, room.state) : own;
  if (!outcome.ok) throw rejectionToError(outcome.rejection, currentCommit(room.state));
  const position = await insertEvent(tx, eventId, pdu);
  if (kind === "commit") {
    await setCurrentCommit(tx, request.roomId, eventId);
    rememberAuthEvent({ eventId, pdu, framing: outcome.framing, federation: outcome.federation });
  }
  // Section 6: a power server of the room may apply it in its window (pendingCommits.ts).
  if (kind === "pending" && outcome.framing) {
    await insertPendingCommit(tx, request.roomId, eventId, outcome.framing.epoch, position);
  }
  // Section 7: every server in the room's servers gets our events (a commit: the old and new lists).
  const current = room.state.commit?.federation;
  await deps.peers.enqueuePdu(
    tx,
    eventDestinations(ctx.config.serverName, current, kind === "commit" ? outcome.federation : undefined),
    eventId,
  );
  if (request.txnId !== undefined)
    await recordTxn(tx, session.userId, session.deviceId, request.txnId, eventId, unsigned.origin_server_ts);
  return { eventId, stored: true };
}

const USER_ID = /^@[a-z0-9._=\-/+]+:(.+)$/;

export async function invite(
  ctx: RoomsContext,
  deps: RoomDeps,
  session: RoomUser,
  roomId: string,
  userId: string,
): Promise<void> {
  const match = USER_ID.exec(userId);
  if (!match) throw new MatrixError(400, "M_INVALID_PARAM", `${userId} is not a user ID`);
  if (match[1] !== ctx.config.serverName) {
    // Section 7: the invitee's server tracks its users' membership; we only tell it.
    const room = await requireJoined(ctx.db, roomId, session.userId);
    const invited = {
      roomId,
      roomVersion: room.row.room_version,
      create: room.state.create,
      commit: room.state.commit,
    };
    await sendRemoteInvite(ctx, deps.peers, invited, session.userId, userId);
    return;
  }
  await ctx.db.write(async (tx) => {
    await requireJoined(tx, roomId, session.userId);
    if (!(await deps.userExists(tx, userId))) throw notFound(`Unknown user ${userId}`);
    const current = await getMembership(tx, roomId, userId);
    if (current?.membership === "join") throw forbidden(`${userId} is already in the room`);
    // D23: the invitee's timeline starts where the invite reached this server.
    await setMembership(tx, { roomId, userId, membership: "invite", inviter: session.userId });
  });
  ctx.notifier.wake([userId]);
}

export async function join(
  ctx: RoomsContext,
  deps: RoomDeps,
  session: RoomUser,
  roomId: string,
): Promise<void> {
  const others = await ctx.db.write(async (tx) => {
    const membership = await getMembership(tx, roomId, session.userId);
    if (membership?.membership === "join") return [];
    if (membership?.membership !== "invite")
      throw forbidden(`You are not invited to ${roomId} (section 7: join needs an invite)`);
    const room = await loadRoom(tx, roomId);
    if (room === undefined) throw notFound(`Unknown room ${roomId}`);
    const servers = room.state.commit?.federation?.federation.servers ?? [];
    if (!servers.includes(ctx.config.serverName)) {
      throw forbidden(
        `This server is not in the room's servers yet; a commit must add ${ctx.config.serverName} first`,
      );
    }
    await setMembership(tx, {
      roomId,
      userId: session.userId,
      membership: "join",
      // Who invited whom is needed only to show the pending invite: not kept past it.
      inviter: null,
      timelineFrom: membership.timeline_from,
    });
    // Users who now share a room hear of each other's device lists (client-server spec,
    // device_lists.changed), so each can fetch the other's keys.
    const others = (await joinedLocalUsers(tx, roomId)).filter((userId) => userId !== session.userId);
    await deps.joined(tx, session.userId, others);
    return others;
  });
  ctx.notifier.wake([session.userId, ...others]);
}

export async function leave(ctx: RoomsContext, session: RoomUser, roomId: string): Promise<void> {
  await ctx.db.write(async (tx) => {
    const membership = await getMembership(tx, roomId, session.userId);
    if (membership === undefined || membership.membership === "leave") {
      throw forbidden(`You are not invited to or joined to ${roomId}`);
    }
    await setMembership(tx, {
      roomId,
      userId: session.userId,
      membership: "leave",
      inviter: null,
      timelineFrom: membership.timeline_from,
    });
  });
  ctx.notifier.wake([session.userId]);
}
