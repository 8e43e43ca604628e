// Send-to-device messaging: each message is stored in the recipient device's inbox at its own
// stream position, delivered through /sync in position order, and deleted once the device syncs
// past it. Sends are idempotent per (sender user, sender device, transaction ID). Messages for
// users of other servers leave in one m.direct_to_device EDU per server, queued in the same
// write; those other servers send arrive through federation/edus/toDevice.ts.
import { randomBytes } from "node:crypto";
import { encodeBase64Url } from "../../protocol/base64.js";
import { userIdServerName } from "../../protocol/identifiers.js";
import type { OutboundQueue } from "../federation/types.js";
import type { Session } from "./sessions.js";
import type { Migrations, Queryable, WriteTransaction } from "../storage/database.js";

export const DIRECT_TO_DEVICE = "m.direct_to_device";

export const toDeviceMigrations: Migrations = {
  component: "to_device",
  versions: [
    [
      `CREATE TABLE to_device_messages (
        position BIGINT PRIMARY KEY,
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        sender TEXT NOT NULL,
        type TEXT NOT NULL,
        content TEXT NOT NULL
      )`,
      "CREATE INDEX to_device_inbox ON to_device_messages (user_id, device_id, position)",
      `CREATE TABLE to_device_txns (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        txn_id TEXT NOT NULL,
        created_ts BIGINT NOT NULL,
        PRIMARY KEY (user_id, device_id, txn_id)
      )`,
      // A sync response that could not carry every pending message delivered only up to
      // delivered_through; `batch` is that response's next_batch (see keysSync.ts).
      `CREATE TABLE to_device_cursors (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        batch BIGINT NOT NULL,
        delivered_through BIGINT NOT NULL,
        PRIMARY KEY (user_id, device_id, batch)
      )`,
    ],
    [
      // message_id of each m.direct_to_device EDU received, per origin server: a transaction
      // sent again (or an EDU repeated) delivers nothing twice.
      `CREATE TABLE to_device_federation_ids (
        origin TEXT NOT NULL,
        message_id TEXT NOT NULL,
        received_ts BIGINT NOT NULL,
        PRIMARY KEY (origin, message_id)
      )`,
    ],
  ],
};

/** user ID → device ID or "*" → content */
export type ToDeviceMessages = Record<string, Record<string, Record<string, unknown>>>;

// The recipient user's devices (the accounts component's table); unknown devices get nothing.
async function knownDevices(q: Queryable, userId: string): Promise<string[]> {
  const rows = await q.all<{ device_id: string }>(
    "SELECT device_id FROM devices WHERE user_id = ? ORDER BY device_id",
    [userId],
  );
  return rows.map((row) => row.device_id);
}

/**
 * Puts messages into the inboxes of local users' devices ("*": every device the user has).
 * Returns the users who got one. `messages` must name local users only.
 */
export async function deliverToLocalDevices(
  tx: WriteTransaction,
  sender: string,
  type: string,
  messages: ToDeviceMessages,
): Promise<string[]> {
  const recipients: string[] = [];
  for (const [userId, byDevice] of Object.entries(messages)) {
    const devices = await knownDevices(tx, userId);
    const wildcard = byDevice["*"];
    let delivered = false;
    for (const deviceId of devices) {
      // A message naming a device wins over the "*" message for that device.
      const content = Object.hasOwn(byDevice, deviceId) ? byDevice[deviceId] : wildcard;
      if (content === undefined) continue;
      await tx.run(
        "INSERT INTO to_device_messages (position, user_id, device_id, sender, type, content) VALUES (?, ?, ?, ?, ?, ?)",
        [tx.nextStreamPosition(), userId, deviceId, sender, type, JSON.stringify(content)],
      );
      delivered = true;
    }
    if (delivered) recipients.push(userId);
  }
  return recipients;
}

/** `messages` split into those for `serverName`'s users and those for each other server. */
function splitByServer(
  messages: ToDeviceMessages,
  serverName: string,
): { local: ToDeviceMessages; remote: Map<string, ToDeviceMessages> } {
  const local: ToDeviceMessages = {};
  const remote = new Map<string, ToDeviceMessages>();
  for (const [userId, byDevice] of Object.entries(messages)) {
    const server = userIdServerName(userId);
    // A user ID without a valid server name reaches nobody, like an unknown device.
    if (server === undefined) continue;
    if (server === serverName) {
      local[userId] = byDevice;
      continue;
    }
    let forServer = remote.get(server);
    if (forServer === undefined) {
      forServer = {};
      remote.set(server, forServer);
    }
    forServer[userId] = byDevice;
  }
  return { local, remote };
}

export interface ToDeviceSend {
  readonly sender: Session;
  readonly txnId: string;
  readonly type: string;
  readonly messages: ToDeviceMessages;
  readonly serverName: string;
  readonly now: number;
  readonly outbound: OutboundQueue;
}

/**
 * Stores a send in one write job: local users' messages in their inboxes, the others queued as
 * one m.direct_to_device EDU per server. Returns the local users who got a message (to wake) and
 * whether anything was queued (to wake the outbound queue), or undefined when this transaction
 * ID was already used by the sending device (nothing stored).
 */
export async function storeToDevice(
  tx: WriteTransaction,
  input: ToDeviceSend,
): Promise<{ recipients: string[]; queued: boolean } | undefined> {
  const { sender, txnId, type, messages, serverName, now } = input;
  const fresh = await tx.run(
    `INSERT INTO to_device_txns (user_id, device_id, txn_id, created_ts) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id, device_id, txn_id) DO NOTHING`,
    [sender.userId, sender.deviceId, txnId, now],
  );
  if (fresh.changes === 0) return undefined;
  const { local, remote } = splitByServer(messages, serverName);
  const recipients = await deliverToLocalDevices(tx, sender.userId, type, local);
  for (const [server, forServer] of remote) {
    // message_id: at most 32 characters (server-server spec); 16 random bytes make 22.
    const content = {
      sender: sender.userId,
      type,
      message_id: encodeBase64Url(randomBytes(16)),
      messages: forServer,
    };
    await input.outbound.enqueueEdu(tx, server, { edu_type: DIRECT_TO_DEVICE, content });
  }
  return { recipients, queued: remote.size > 0 };
}

/**
 * Records an m.direct_to_device EDU's message_id for its origin; false when it was seen before
 * (a repeated transaction or EDU), and then nothing is to be delivered.
 */
export async function firstReceipt(
  tx: WriteTransaction,
  origin: string,
  messageId: string,
  now: number,
): Promise<boolean> {
  const fresh = await tx.run(
    `INSERT INTO to_device_federation_ids (origin, message_id, received_ts) VALUES (?, ?, ?)
     ON CONFLICT (origin, message_id) DO NOTHING`,
    [origin, messageId, now],
  );
  return fresh.changes === 1;
}

export interface ToDeviceEvent {
  readonly sender: string;
  readonly type: string;
  readonly content: Record<string, unknown>;
}

export interface StoredToDevice extends ToDeviceEvent {
  readonly position: number;
}

/** Up to `limit` messages for a device with after < position <= upto, oldest first. */
export async function readInbox(
  q: Queryable,
  device: Session,
  after: number,
  upto: number,
  limit: number,
): Promise<StoredToDevice[]> {
  const rows = await q.all<{ position: number; sender: string; type: string; content: string }>(
    `SELECT position, sender, type, content FROM to_device_messages
     WHERE user_id = ? AND device_id = ? AND position > ? AND position <= ?
     ORDER BY position LIMIT ?`,
    [device.userId, device.deviceId, after, upto, limit],
  );
  return rows.map((row) => ({
    position: Number(row.position),
    sender: row.sender,
    type: row.type,
    content: JSON.parse(row.content) as Record<string, unknown>,
  }));
}

/** Where delivery resumes after the response whose next_batch was `batch`. */
export async function deliveredThrough(q: Queryable, device: Session, batch: number): Promise<number> {
  const row = await q.get<{ delivered_through: number }>(
    "SELECT delivered_through FROM to_device_cursors WHERE user_id = ? AND device_id = ? AND batch = ?",
    [device.userId, device.deviceId, batch],
  );
  return row === undefined ? batch : Number(row.delivered_through);
}

/** Remembers that the response with next_batch `batch` delivered only through `through`. */
export async function recordCursor(
  tx: WriteTransaction,
  device: Session,
  batch: number,
  through: number,
): Promise<void> {
  await tx.run(
    `INSERT INTO to_device_cursors (user_id, device_id, batch, delivered_through) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id, device_id, batch) DO UPDATE SET delivered_through = excluded.delivered_through`,
    [device.userId, device.deviceId, batch, through],
  );
}

/** Deletes a device's messages through `through` and its cursors older than `batch`. */
export async function deleteDelivered(
  tx: WriteTransaction,
  device: Session,
  through: number,
  batch: number,
): Promise<void> {
  await tx.run("DELETE FROM to_device_messages WHERE user_id = ? AND device_id = ? AND position <= ?", [
    device.userId,
    device.deviceId,
    through,
  ]);
  await tx.run("DELETE FROM to_device_cursors WHERE user_id = ? AND device_id = ? AND batch < ?", [
    device.userId,
    device.deviceId,
    batch,
  ]);
}

/** True when deleteDelivered(through, batch) would delete anything (spares a write per sync). */
export async function hasDelivered(
  q: Queryable,
  device: Session,
  through: number,
  batch: number,
): Promise<boolean> {
  const row = await q.get<{ found: number }>(
    `SELECT 1 AS found FROM to_device_messages WHERE user_id = ? AND device_id = ? AND position <= ?
     UNION ALL
     SELECT 1 AS found FROM to_device_cursors WHERE user_id = ? AND device_id = ? AND batch < ?
     LIMIT 1`,
    [device.userId, device.deviceId, through, device.userId, device.deviceId, batch],
  );
  return row !== undefined;
}

/** Everything queued for or sent by a deleted device. */
export async function deleteDeviceInbox(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
): Promise<void> {
  for (const table of ["to_device_messages", "to_device_txns", "to_device_cursors"]) {
    await tx.run(`DELETE FROM ${table} WHERE user_id = ? AND device_id = ?`, [userId, deviceId]);
  }
}
