// Device list changes: a user's list changes when a device's keys are uploaded or changed, a
// device is deleted, or their cross-signing keys change. Each change is a row at its own stream
// position, so /sync and /keys/changes see exactly the changes between two tokens.
import type { ServerContext } from "../context.js";
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
  return rows.map((row) => row.user_id);
}

/** Wakes the long-polling syncs of everyone who hears of a change to `userId`'s device list. */
export async function wakeForDeviceListChange(ctx: ServerContext, userId: string): Promise<void> {
  const rows = await ctx.db.all<{ user_id: string }>(
    `SELECT DISTINCT user_id FROM (${SHARES_A_ROOM}) shared`,
    [userId],
  );
  ctx.notifier.wake(new Set([userId, ...rows.map((row) => row.user_id)]));
}
