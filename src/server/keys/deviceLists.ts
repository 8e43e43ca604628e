// Device list changes: a user's list changes when a device's keys are uploaded or changed, a
// device is deleted, or their cross-signing keys change. Each change is a row at its own stream
// position, so /sync and /keys/changes see exactly the changes between two tokens. Users of other
// servers have rows too: their server announced a change (m.device_list_update), and each local
// user who may share a room with them gets a row of their own (only_for).
import type { ServerContext } from "../context.js";
import type { JsonObject } from "../json.js";
import type { Queryable, WriteTransaction } from "../storage/database.js";

export const DEVICE_LIST_TABLES = [
  // only_for: the change concerns that user alone (their signature on another user's master key);
  // NULL: everyone who shares a room with user_id, and user_id themselves.
  `CREATE TABLE device_list_changes (
    position BIGINT PRIMARY KEY,
    user_id TEXT NOT NULL,
    only_for TEXT
  )`,
];

// Changes are kept for retention.device_list_changes_max_age_ms (services/retention.ts): a row
// gets its time (created_ts) from the first pruning run that sees it, so writers need not know of
// it. Changes up to `pruned_through` are gone: a requester whose `from` is older hears of every
// user they may share keys with (over-reporting only costs a key query).
export const DEVICE_LIST_RETENTION = [
  "ALTER TABLE device_list_changes ADD COLUMN created_ts BIGINT NOT NULL DEFAULT 0",
  "CREATE INDEX device_list_changes_age ON device_list_changes (created_ts)",
  "CREATE TABLE device_list_pruned (id INTEGER PRIMARY KEY, pruned_through BIGINT NOT NULL)",
  "INSERT INTO device_list_pruned (id, pruned_through) VALUES (1, 0)",
];

/** Deletes changes that got their time before `cutoff` (see DEVICE_LIST_RETENTION). */
export async function pruneDeviceListChanges(
  tx: WriteTransaction,
  now: number,
  cutoff: number,
): Promise<number> {
  await tx.run("UPDATE device_list_changes SET created_ts = ? WHERE created_ts = 0", [now]);
  const newest = await tx.get<{ position: number | string | null }>(
    "SELECT MAX(position) AS position FROM device_list_changes WHERE created_ts < ?",
    [cutoff],
  );
  if (newest?.position === null || newest?.position === undefined) return 0;
  const through = Number(newest.position);
  const { changes } = await tx.run("DELETE FROM device_list_changes WHERE position <= ?", [through]);
  await tx.run("UPDATE device_list_pruned SET pruned_through = ? WHERE id = 1 AND pruned_through < ?", [
    through,
    through,
  ]);
  return changes;
}

// The stream of m.device_list_update EDUs of each local user (server-server spec): the stream_id
// of the last change, which the next EDU names in prev_id and GET /user/devices returns.
export const DEVICE_LIST_STREAM_TABLES = [
  `CREATE TABLE device_list_streams (
    user_id TEXT PRIMARY KEY,
    stream_id BIGINT NOT NULL
  )`,
];

/** The stream_id of a local user's device list now: that of its last change, 0 before any. */
export async function deviceListStreamId(q: Queryable, userId: string): Promise<number> {
  const row = await q.get<{ stream_id: number | string }>(
    "SELECT stream_id FROM device_list_streams WHERE user_id = ?",
    [userId],
  );
  return row === undefined ? 0 : Number(row.stream_id);
}

/** Moves a local user's device list stream to `streamId`; returns the previous stream_id, if any. */
export async function advanceDeviceListStream(
  tx: WriteTransaction,
  userId: string,
  streamId: number,
): Promise<number | undefined> {
  const previous = await tx.get<{ stream_id: number | string }>(
    "SELECT stream_id FROM device_list_streams WHERE user_id = ?",
    [userId],
  );
  await tx.run(
    `INSERT INTO device_list_streams (user_id, stream_id) VALUES (?, ?)
     ON CONFLICT (user_id) DO UPDATE SET stream_id = excluded.stream_id`,
    [userId, streamId],
  );
  return previous === undefined ? undefined : Number(previous.stream_id);
}

export interface DeviceChange {
  readonly userId: string;
  readonly deviceId: string;
  /** The change's stream position (markDeviceListChanged): the EDU's stream_id. */
  readonly streamId: number;
  /** The device's keys as other servers see them now; absent when deleted or without keys. */
  readonly keys?: JsonObject;
  readonly deleted?: boolean;
}

/**
 * Announces a change of a local user's device to the servers sharing a room with them, in the
 * write that made it (m.device_list_update). Its prev_id is the user's previous stream_id, also
 * when that change reached no server: a server that did not see it then knows to fetch the whole
 * list (GET /user/devices) rather than trust a gap.
 */
export async function announceDeviceChange(
  tx: WriteTransaction,
  ctx: ServerContext,
  change: DeviceChange,
): Promise<void> {
  const prevId = await advanceDeviceListStream(tx, change.userId, change.streamId);
  await ctx.keyFederation.announceDeviceChange(tx, { ...change, prevId });
}

/** Records that `userId`'s device list changed; returns the change's stream position. */
export async function markDeviceListChanged(
  tx: WriteTransaction,
  userId: string,
  onlyFor: string | null = null,
): Promise<number> {
  const position = tx.nextStreamPosition();
  await tx.run("INSERT INTO device_list_changes (position, user_id, only_for) VALUES (?, ?, ?)", [
    position,
    userId,
    onlyFor,
  ]);
  return position;
}

// Users who share a room with `?` (both joined), as a subquery of user IDs.
const SHARES_A_ROOM = `SELECT b.user_id FROM room_memberships a
  JOIN room_memberships b ON b.room_id = a.room_id
  WHERE a.user_id = ? AND a.membership = 'join' AND b.membership = 'join'`;

/**
 * Users whose device list changed at positions in (from, to] that `requester` should hear of:
 * themselves, users sharing a joined room with them, and changes meant for them alone.
 */
export async function changedUsers(
  db: Queryable,
  requester: string,
  from: number,
  to: number,
): Promise<string[]> {
  const rows = await db.all<{ user_id: string }>(
    `SELECT DISTINCT user_id FROM device_list_changes
     WHERE position > ? AND position <= ? AND (
       only_for = ?
       OR (only_for IS NULL AND (user_id = ? OR user_id IN (${SHARES_A_ROOM})))
     )
     ORDER BY user_id`,
    [from, to, requester, requester, requester],
  );
  const users = rows.map((row) => row.user_id);
  const pruned = await db.get<{ pruned_through: number | string }>(
    "SELECT pruned_through FROM device_list_pruned WHERE id = 1",
  );
  if (from >= Number(pruned?.pruned_through ?? 0)) return users;
  // Some changes after `from` are gone: the requester and everyone sharing a room may have one.
  const shared = await db.all<{ user_id: string }>(`SELECT DISTINCT user_id FROM (${SHARES_A_ROOM}) s`, [
    requester,
  ]);
  return [...new Set([...users, requester, ...shared.map((row) => row.user_id)])].sort();
}

/**
 * After a write that changed a local user's device list: wakes the long-polling syncs of everyone
 * who hears of it, and the outbound queue that carries its announcement to other servers.
 */
export async function wakeForDeviceListChange(ctx: ServerContext, userId: string): Promise<void> {
  ctx.federation.outbound.wake();
  const rows = await ctx.db.all<{ user_id: string }>(
    `SELECT DISTINCT user_id FROM (${SHARES_A_ROOM}) shared`,
    [userId],
  );
  ctx.notifier.wake(new Set([userId, ...rows.map((row) => row.user_id)]));
}
