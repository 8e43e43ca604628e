// Send-to-device messaging: each message is stored in the recipient device's inbox at its own
// stream position, delivered through /sync in position order, and deleted once the device syncs
// past it. Sends are idempotent per (sender user, sender device, transaction ID). Messages for
// users of other servers leave in one m.direct_to_device EDU per server, queued in the same
// write; those other servers send arrive through federation/edus/toDevice.ts.
//
// Each device's inbox is bounded (retention.to_device_max_pending and _bytes): a new message
// pushes out the oldest ones that are not MLS Welcomes, since a lost Welcome is a lost room join
// (section 7); only when Welcomes alone fill the inbox is the new message refused (InboxFull).
// services/retention.ts deletes messages, transaction IDs and message IDs once they are old.
import { randomBytes } from "node:crypto";
import { wireformats } from "ts-mls";
import { decodeBase64Lenient, encodeBase64Url } from "../../protocol/base64.js";
import { userIdServerName } from "../../protocol/identifiers.js";
import { ENCRYPTED_EVENT_TYPE, STABLE_NAMES, UNSTABLE_NAMES } from "../../protocol/names.js";
import type { RetentionConfig } from "../config.js";
import type { OutboundQueue } from "../federationTypes.js";
import type { Session } from "../auth/sessions.js";
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
    [
      // The inbox bound counts bytes and spares Welcomes; created_ts ages messages out. Rows of
      // earlier versions get created_ts at the first pruning run (services/retention.ts).
      "ALTER TABLE to_device_messages ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0",
      "ALTER TABLE to_device_messages ADD COLUMN welcome INTEGER NOT NULL DEFAULT 0",
      "ALTER TABLE to_device_messages ADD COLUMN created_ts BIGINT NOT NULL DEFAULT 0",
      "UPDATE to_device_messages SET bytes = LENGTH(content)",
      // Messages stored before Welcomes were told apart: any encrypted one may be a Welcome.
      "UPDATE to_device_messages SET welcome = 1 WHERE type = 'm.room.encrypted'",
      // Covers the usage query of every delivery without reading message contents.
      "CREATE INDEX to_device_usage ON to_device_messages (user_id, device_id, welcome, position, bytes)",
      "CREATE INDEX to_device_messages_age ON to_device_messages (welcome, created_ts)",
      "CREATE INDEX to_device_txns_age ON to_device_txns (created_ts)",
      "CREATE INDEX to_device_federation_ids_age ON to_device_federation_ids (received_ts)",
    ],
  ],
};

/** The bounds of each device's inbox (retention.to_device_max_pending and _bytes). */
export interface InboxLimits {
  readonly maxPending: number;
  readonly maxPendingBytes: number;
}

export function inboxLimits(retention: RetentionConfig): InboxLimits {
  return { maxPending: retention.toDeviceMaxPending, maxPendingBytes: retention.toDeviceMaxPendingBytes };
}

/** A device's inbox holds only Welcomes and has no room for another message. */
export class InboxFull extends Error {
  override readonly name = "InboxFull";
  constructor(
    readonly userId: string,
    readonly deviceId: string,
  ) {
    super(`The to-device inbox of ${userId} ${deviceId} is full of undelivered Welcomes`);
  }
}

const MLS_PREFIXES = [STABLE_NAMES.prefix, UNSTABLE_NAMES.prefix];
// MLSMessage starts with version (uint16, mls10 = 1) and wire_format (uint16), RFC 9420 6.
const WELCOME_HEADER = [0, 1, 0, wireformats.mls_welcome];

/**
 * Section 9: a Welcome is a to-device m.room.encrypted whose ciphertext is an MLSMessage of wire
 * format mls_welcome. Only the first bytes are read: the server cannot check more without keys.
 */
export function isWelcome(type: string, content: Readonly<Record<string, unknown>>): boolean {
  const { algorithm, ciphertext } = content;
  if (type !== ENCRYPTED_EVENT_TYPE || typeof algorithm !== "string" || typeof ciphertext !== "string") {
    return false;
  }
  if (!MLS_PREFIXES.some((prefix) => algorithm.startsWith(prefix))) return false;
  let head: Uint8Array;
  try {
    head = decodeBase64Lenient(ciphertext.slice(0, 8));
  } catch {
    return false;
  }
  return WELCOME_HEADER.every((byte, i) => head[i] === byte);
}

/**
 * Makes room for a message of `bytes` in a device's inbox by deleting its oldest messages that
 * are not Welcomes; throws InboxFull (deleting nothing) when that cannot make enough room.
 */
async function makeRoom(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
  bytes: number,
  limits: InboxLimits,
): Promise<void> {
  const usage = await tx.get<{ count: number | string; bytes: number | string | null }>(
    "SELECT COUNT(*) AS count, SUM(bytes) AS bytes FROM to_device_messages WHERE user_id = ? AND device_id = ?",
    [userId, deviceId],
  );
  let count = Number(usage?.count ?? 0) + 1;
  let total = Number(usage?.bytes ?? 0) + bytes;
  if (count <= limits.maxPending && total <= limits.maxPendingBytes) return;
  const evictable = await tx.all<{ position: number | string; bytes: number | string }>(
    `SELECT position, bytes FROM to_device_messages WHERE user_id = ? AND device_id = ? AND welcome = 0
     ORDER BY position`,
    [userId, deviceId],
  );
  let through: number | undefined;
  for (const row of evictable) {
    if (count <= limits.maxPending && total <= limits.maxPendingBytes) break;
    count -= 1;
    total -= Number(row.bytes);
    through = Number(row.position);
  }
  if (count > limits.maxPending || total > limits.maxPendingBytes) throw new InboxFull(userId, deviceId);
  if (through === undefined) return;
  await tx.run(
    "DELETE FROM to_device_messages WHERE user_id = ? AND device_id = ? AND welcome = 0 AND position <= ?",
    [userId, deviceId, through],
  );
}

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
 * Puts messages into the inboxes of local users' devices ("*": every device the user has), within
 * `limits` (see makeRoom; InboxFull rolls the whole job back). Returns the users who got one.
 * `messages` must name local users only.
 */
export async function deliverToLocalDevices(
  tx: WriteTransaction,
  delivery: { sender: string; type: string; now: number; limits: InboxLimits },
  messages: ToDeviceMessages,
): Promise<string[]> {
  const { sender, type, now, limits } = delivery;
  const recipients: string[] = [];
  for (const [userId, byDevice] of Object.entries(messages)) {
    const devices = await knownDevices(tx, userId);
    const wildcard = byDevice["*"];
    let delivered = false;
    for (const deviceId of devices) {
      // A message naming a device wins over the "*" message for that device.
      const content = Object.hasOwn(byDevice, deviceId) ? byDevice[deviceId] : wildcard;
      if (content === undefined) continue;
      const json = JSON.stringify(content);
      const bytes = Buffer.byteLength(json);
      await makeRoom(tx, userId, deviceId, bytes, limits);
      await tx.run(
        `INSERT INTO to_device_messages (position, user_id, device_id, sender, type, content, bytes, welcome, created_ts)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          tx.nextStreamPosition(),
          userId,
          deviceId,
          sender,
          type,
          json,
          bytes,
          isWelcome(type, content) ? 1 : 0,
          now,
        ],
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
  readonly limits: InboxLimits;
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
  const recipients = await deliverToLocalDevices(
    tx,
    { sender: sender.userId, type, now, limits: input.limits },
    local,
  );
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
