// SQL of rooms, events, memberships, transaction IDs and pending commits (roomSchema.ts): the
// only module that names these tables. Reads take any Queryable, so a write job can read
// through its transaction.
import type { Pdu } from "../../protocol/pdu/types.js";
import type { Queryable, WriteTransaction } from "../storage/database.js";

export interface RoomRow {
  readonly room_id: string;
  readonly room_version: string;
  readonly create_event_id: string;
  readonly current_commit_id: string | null;
}

export interface EventRow {
  readonly event_id: string;
  readonly room_id: string;
  readonly position: number;
  readonly pdu: string;
}

export type Membership = "invite" | "join" | "leave";

export interface MembershipRow {
  readonly room_id: string;
  readonly user_id: string;
  readonly membership: Membership;
  readonly inviter: string | null;
  readonly position: number;
  readonly timeline_from: number;
}

export function getRoom(q: Queryable, roomId: string): Promise<RoomRow | undefined> {
  return q.get<RoomRow>(
    "SELECT room_id, room_version, create_event_id, current_commit_id FROM rooms WHERE room_id = ?",
    [roomId],
  );
}

export async function insertRoom(tx: WriteTransaction, room: RoomRow, createdTs: number): Promise<void> {
  await tx.run(
    "INSERT INTO rooms (room_id, room_version, create_event_id, current_commit_id, created_ts) VALUES (?, ?, ?, ?, ?)",
    [room.room_id, room.room_version, room.create_event_id, room.current_commit_id, createdTs],
  );
}

export async function setCurrentCommit(tx: WriteTransaction, roomId: string, eventId: string): Promise<void> {
  await tx.run("UPDATE rooms SET current_commit_id = ? WHERE room_id = ?", [eventId, roomId]);
}

export function getEvent(q: Queryable, eventId: string): Promise<EventRow | undefined> {
  return q.get<EventRow>("SELECT event_id, room_id, position, pdu FROM events WHERE event_id = ?", [eventId]);
}

/** Every event of the room with this type (a room's commits), in no order. */
export function eventsOfType(q: Queryable, roomId: string, type: string): Promise<EventRow[]> {
  return q.all<EventRow>(
    "SELECT event_id, room_id, position, pdu FROM events WHERE room_id = ? AND type = ?",
    [roomId, type],
  );
}

/** Stores an event with the next stream position and makes it the room's only forward extremity
 * among its prev_events. Returns the position. */
export async function insertEvent(tx: WriteTransaction, eventId: string, pdu: Pdu): Promise<number> {
  const position = tx.nextStreamPosition();
  await tx.run(
    "INSERT INTO events (event_id, room_id, position, type, state_key, pdu) VALUES (?, ?, ?, ?, ?, ?)",
    [eventId, pdu.room_id, position, pdu.type, pdu.state_key ?? null, JSON.stringify(pdu)],
  );
  for (const prev of pdu.prev_events) {
    await tx.run("DELETE FROM room_extremities WHERE room_id = ? AND event_id = ?", [pdu.room_id, prev]);
  }
  await tx.run("INSERT INTO room_extremities (room_id, event_id) VALUES (?, ?)", [pdu.room_id, eventId]);
  return position;
}

export async function extremities(q: Queryable, roomId: string, limit: number): Promise<string[]> {
  const rows = await q.all<{ event_id: string }>(
    "SELECT event_id FROM room_extremities WHERE room_id = ? ORDER BY event_id LIMIT ?",
    [roomId, limit],
  );
  return rows.map((row) => row.event_id);
}

export function getMembership(
  q: Queryable,
  roomId: string,
  userId: string,
): Promise<MembershipRow | undefined> {
  return q.get<MembershipRow>(
    "SELECT room_id, user_id, membership, inviter, position, timeline_from FROM room_memberships WHERE room_id = ? AND user_id = ?",
    [roomId, userId],
  );
}

export async function setMembership(
  tx: WriteTransaction,
  change: {
    roomId: string;
    userId: string;
    membership: Membership;
    inviter: string | null;
    timelineFrom?: number;
  },
): Promise<number> {
  const position = tx.nextStreamPosition();
  const timelineFrom = change.timelineFrom ?? position;
  await tx.run(
    `INSERT INTO room_memberships (room_id, user_id, membership, inviter, position, timeline_from) VALUES (?, ?, ?, ?, ?, ?)
     ON CONFLICT (room_id, user_id) DO UPDATE SET membership = excluded.membership, inviter = excluded.inviter,
       position = excluded.position, timeline_from = excluded.timeline_from`,
    [change.roomId, change.userId, change.membership, change.inviter, position, timelineFrom],
  );
  return position;
}

export async function membershipsOf(
  q: Queryable,
  userId: string,
  membership?: Membership,
): Promise<MembershipRow[]> {
  return membership === undefined
    ? q.all<MembershipRow>(
        "SELECT room_id, user_id, membership, inviter, position, timeline_from FROM room_memberships WHERE user_id = ?",
        [userId],
      )
    : q.all<MembershipRow>(
        "SELECT room_id, user_id, membership, inviter, position, timeline_from FROM room_memberships WHERE user_id = ? AND membership = ?",
        [userId, membership],
      );
}

/** Every join of every room, by room. */
export function joinedMemberships(q: Queryable): Promise<MembershipRow[]> {
  return q.all<MembershipRow>(
    "SELECT room_id, user_id, membership, inviter, position, timeline_from FROM room_memberships WHERE membership = 'join' ORDER BY room_id",
  );
}

export async function joinedLocalUsers(q: Queryable, roomId: string): Promise<string[]> {
  const rows = await q.all<{ user_id: string }>(
    "SELECT user_id FROM room_memberships WHERE room_id = ? AND membership = 'join'",
    [roomId],
  );
  return rows.map((row) => row.user_id);
}

export async function recordTxn(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
  txnId: string,
  eventId: string,
  now: number,
): Promise<void> {
  await tx.run(
    "INSERT INTO event_txns (user_id, device_id, txn_id, event_id, created_ts) VALUES (?, ?, ?, ?, ?)",
    [userId, deviceId, txnId, eventId, now],
  );
}

/** A deleted device's transaction IDs: nothing can retry with them any more. */
export async function deleteDeviceTxns(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
): Promise<void> {
  await tx.run("DELETE FROM event_txns WHERE user_id = ? AND device_id = ?", [userId, deviceId]);
}

/**
 * Deletes clients' transaction IDs stored before `cutoff` (no retry can come any more); rows of
 * versions without a timestamp (created_ts = 0) first get `now`, and age from then. Returns how
 * many were deleted.
 */
export async function pruneEventTxns(tx: WriteTransaction, now: number, cutoff: number): Promise<number> {
  await tx.run("UPDATE event_txns SET created_ts = ? WHERE created_ts = 0", [now]);
  return (await tx.run("DELETE FROM event_txns WHERE created_ts < ?", [cutoff])).changes;
}

/** Events of a room with position in (after, upto], oldest first, at most `limit`. */
export function eventsAfter(
  q: Queryable,
  roomId: string,
  after: number,
  upto: number,
  limit: number,
): Promise<EventRow[]> {
  return q.all<EventRow>(
    "SELECT event_id, room_id, position, pdu FROM events WHERE room_id = ? AND position > ? AND position <= ? ORDER BY position LIMIT ?",
    [roomId, after, upto, limit],
  );
}

/** Events of a room with position in [from, before), newest first, at most `limit`. */
export function eventsBefore(
  q: Queryable,
  roomId: string,
  before: number,
  from: number,
  limit: number,
): Promise<EventRow[]> {
  return q.all<EventRow>(
    "SELECT event_id, room_id, position, pdu FROM events WHERE room_id = ? AND position < ? AND position >= ? ORDER BY position DESC LIMIT ?",
    [roomId, before, from, limit],
  );
}

/** The room's commit event current just before `position` (the chain is linear on one server). */
export function commitBefore(
  q: Queryable,
  roomId: string,
  commitType: string,
  position: number,
): Promise<EventRow | undefined> {
  return q.get<EventRow>(
    "SELECT event_id, room_id, position, pdu FROM events WHERE room_id = ? AND type = ? AND position < ? ORDER BY position DESC LIMIT 1",
    [roomId, commitType, position],
  );
}

export interface SendContextRow extends RoomRow {
  readonly membership: Membership | null;
  readonly earlier_event_id: string | null;
}

/** What a send needs to know, in one round trip: the room, the sender's membership, and the
 * event an earlier request with the same transaction ID created. */
export function getSendContext(
  q: Queryable,
  roomId: string,
  userId: string,
  deviceId: string,
  txnId: string | null,
): Promise<SendContextRow | undefined> {
  return q.get<SendContextRow>(
    `SELECT r.room_id, r.room_version, r.create_event_id, r.current_commit_id,
       (SELECT membership FROM room_memberships m WHERE m.room_id = r.room_id AND m.user_id = ?) AS membership,
       (SELECT event_id FROM event_txns t WHERE t.user_id = ? AND t.device_id = ? AND t.txn_id = ?) AS earlier_event_id
     FROM rooms r WHERE r.room_id = ?`,
    [userId, userId, deviceId, txnId, roomId],
  );
}

/** Section 6: a stored pending commit a power server of the room may apply, in arrival order. */
export async function insertPendingCommit(
  tx: WriteTransaction,
  roomId: string,
  eventId: string,
  epoch: bigint,
  position: number,
): Promise<void> {
  await tx.run("INSERT INTO pending_commits (room_id, event_id, epoch, position) VALUES (?, ?, ?, ?)", [
    roomId,
    eventId,
    Number(epoch),
    position,
  ]);
}

/** Rooms with pending commits waiting (section 6). */
export async function roomsWithPendingCommits(q: Queryable): Promise<string[]> {
  const rows = await q.all<{ room_id: string }>("SELECT DISTINCT room_id FROM pending_commits");
  return rows.map((row) => row.room_id);
}

/** Whether the room has a pending commit for an epoch before `epoch`. */
export async function hasPendingCommitBefore(q: Queryable, roomId: string, epoch: number): Promise<boolean> {
  const row = await q.get<{ found: number }>(
    "SELECT 1 AS found FROM pending_commits WHERE room_id = ? AND epoch < ? LIMIT 1",
    [roomId, epoch],
  );
  return row !== undefined;
}

/** The room's pending commits for `epoch`, in arrival order. */
export async function pendingCommitsFor(q: Queryable, roomId: string, epoch: number): Promise<string[]> {
  const rows = await q.all<{ event_id: string }>(
    "SELECT event_id FROM pending_commits WHERE room_id = ? AND epoch = ? ORDER BY position",
    [roomId, epoch],
  );
  return rows.map((row) => row.event_id);
}

/** Drops the room's pending commits for epochs before `epoch`. */
export async function deletePendingCommitsBefore(
  tx: WriteTransaction,
  roomId: string,
  epoch: number,
): Promise<void> {
  await tx.run("DELETE FROM pending_commits WHERE room_id = ? AND epoch < ?", [roomId, epoch]);
}

/** Drops the room's pending commits for epochs up to and including `epoch`. */
export async function deletePendingCommitsUpTo(
  tx: WriteTransaction,
  roomId: string,
  epoch: number,
): Promise<void> {
  await tx.run("DELETE FROM pending_commits WHERE room_id = ? AND epoch <= ?", [roomId, epoch]);
}

/** Drops every pending commit of the room. */
export async function deletePendingCommits(tx: WriteTransaction, roomId: string): Promise<void> {
  await tx.run("DELETE FROM pending_commits WHERE room_id = ?", [roomId]);
}

/** Drops one pending commit. */
export async function deletePendingCommit(tx: WriteTransaction, eventId: string): Promise<void> {
  await tx.run("DELETE FROM pending_commits WHERE event_id = ?", [eventId]);
}

/** Up to `limit` events of the room before stream position `before`, newest first (backfill). */
export async function pdusBefore(
  q: Queryable,
  roomId: string,
  before: number,
  limit: number,
): Promise<string[]> {
  const rows = await q.all<{ pdu: string }>(
    "SELECT pdu FROM events WHERE room_id = ? AND position < ? ORDER BY position DESC LIMIT ?",
    [roomId, before, limit],
  );
  return rows.map((row) => row.pdu);
}
