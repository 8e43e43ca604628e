// Devices of local users: created at login or registration, listed, renamed and deleted. Deleting
// a device revokes its access tokens and removes its keys in the same transaction.
import { randomInt } from "node:crypto";
import type { ServerContext } from "../context.js";
import { invalidParam } from "../errors.js";
import type { Queryable, WriteTransaction } from "../storage/database.js";
import { wakeForDeviceListChange } from "../keys/deviceLists.js";
import { deleteDeviceKeys } from "../keys/localKeys.js";
import { deleteDeviceTxns } from "../rooms/roomStore.js";
import type { Session } from "../auth/sessions.js";
import { deleteDeviceInbox } from "./toDevice.js";

/** A device as GET /devices shows it. */
export interface Device {
  readonly device_id: string;
  readonly display_name?: string;
  readonly last_seen_ts?: number;
  readonly last_seen_ip?: string;
}

export interface NewDevice {
  /** Reused when the user already has it; created otherwise. */
  readonly deviceId?: string;
  readonly displayName?: string;
  readonly ip: string;
}

// Device IDs end up in key IDs (`ed25519:<device>`) and MLS credentials: printable ASCII only.
const DEVICE_ID = /^[\x21-\x7e]{1,255}$/;
const MAX_DISPLAY_NAME = 256;
// last_seen is written at most this often per device, so requests do not each cost a write.
const LAST_SEEN_INTERVAL_MS = 5 * 60_000;
const MAX_TRACKED_DEVICES = 100_000;

export function checkDeviceId(deviceId: string): void {
  if (!DEVICE_ID.test(deviceId)) throw invalidParam("device_id must be 1 to 255 printable ASCII characters");
}

export function checkDeviceDisplayName(name: string): void {
  if (name.length > MAX_DISPLAY_NAME) {
    throw invalidParam(`Device display names are limited to ${MAX_DISPLAY_NAME} characters`);
  }
}

function generatedDeviceId(): string {
  return Array.from({ length: 10 }, () => String.fromCharCode(65 + randomInt(26))).join("");
}

interface DeviceRow {
  device_id: string;
  display_name: string | null;
  last_seen_ts: number | null;
  last_seen_ip: string | null;
}

function toDevice(row: DeviceRow): Device {
  return {
    device_id: row.device_id,
    ...(row.display_name !== null && { display_name: row.display_name }),
    ...(row.last_seen_ts !== null && { last_seen_ts: row.last_seen_ts }),
    ...(row.last_seen_ip !== null && { last_seen_ip: row.last_seen_ip }),
  };
}

/** Creates the device inside a write job, or reuses it if the user has it; returns its ID. */
export async function createDevice(
  tx: WriteTransaction,
  userId: string,
  device: NewDevice,
  now: number,
): Promise<string> {
  if (device.deviceId !== undefined) {
    // A known device keeps its name: initial_device_display_name applies to new ones only.
    await tx.run(
      `INSERT INTO devices (user_id, device_id, display_name, created_ts, last_seen_ts, last_seen_ip)
       VALUES (?, ?, ?, ?, ?, ?)
       ON CONFLICT (user_id, device_id) DO UPDATE SET last_seen_ts = excluded.last_seen_ts, last_seen_ip = excluded.last_seen_ip`,
      [userId, device.deviceId, device.displayName ?? null, now, now, device.ip],
    );
    return device.deviceId;
  }
  for (;;) {
    const deviceId = generatedDeviceId();
    const inserted = await tx.run(
      `INSERT INTO devices (user_id, device_id, display_name, created_ts, last_seen_ts, last_seen_ip)
       VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (user_id, device_id) DO NOTHING`,
      [userId, deviceId, device.displayName ?? null, now, now, device.ip],
    );
    if (inserted.changes === 1) return deviceId;
  }
}

const DEVICE_COLUMNS = "device_id, display_name, last_seen_ts, last_seen_ip";

export async function listDevices(db: Queryable, userId: string): Promise<Device[]> {
  const rows = await db.all<DeviceRow>(
    `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = ? ORDER BY device_id`,
    [userId],
  );
  return rows.map(toDevice);
}

export async function getDevice(
  db: Queryable,
  userId: string,
  deviceId: string,
): Promise<Device | undefined> {
  const row = await db.get<DeviceRow>(
    `SELECT ${DEVICE_COLUMNS} FROM devices WHERE user_id = ? AND device_id = ?`,
    [userId, deviceId],
  );
  return row && toDevice(row);
}

/** Sets a device's display name; false when the user has no such device. */
export async function renameDevice(
  ctx: ServerContext,
  userId: string,
  deviceId: string,
  displayName: string,
): Promise<boolean> {
  const { changes } = await ctx.db.write((tx) =>
    tx.run("UPDATE devices SET display_name = ? WHERE user_id = ? AND device_id = ?", [
      displayName,
      userId,
      deviceId,
    ]),
  );
  return changes > 0;
}

/**
 * Deletes devices inside a write job: their access tokens, and everything the keys component
 * keeps for them (device keys, key packages, signatures on them, to-device inbox; this marks the
 * device list changed) and the transaction IDs of its events. Only `userId`'s own devices are
 * touched; unknown IDs are ignored. Returns how many devices were deleted. After the commit, wake
 * syncs with wakeForDeviceListChange.
 */
export async function removeDevices(
  tx: WriteTransaction,
  ctx: ServerContext,
  userId: string,
  deviceIds: readonly string[],
): Promise<number> {
  let deleted = 0;
  for (const deviceId of deviceIds) {
    const owned = await tx.get<{ found: number }>(
      "SELECT 1 AS found FROM devices WHERE user_id = ? AND device_id = ?",
      [userId, deviceId],
    );
    if (owned === undefined) continue;
    await ctx.sessions.revokeDevice(tx, userId, deviceId);
    // Servers sharing a room with the user hear of the deletion (m.device_list_update).
    await deleteDeviceKeys(tx, userId, deviceId, ctx);
    await deleteDeviceInbox(tx, userId, deviceId);
    await deleteDeviceTxns(tx, userId, deviceId);
    await tx.run("DELETE FROM devices WHERE user_id = ? AND device_id = ?", [userId, deviceId]);
    deleted += 1;
  }
  return deleted;
}

/** Deletes the user's devices among `deviceIds`; returns how many there were. */
export async function deleteDevices(
  ctx: ServerContext,
  userId: string,
  deviceIds: readonly string[],
): Promise<number> {
  const deleted = await ctx.db.write((tx) => removeDevices(tx, ctx, userId, deviceIds));
  if (deleted > 0) await wakeForDeviceListChange(ctx, userId);
  return deleted;
}

/** Logs out everywhere: every device of the user goes, with its tokens and keys. */
export async function deleteAllDevices(ctx: ServerContext, userId: string): Promise<void> {
  await ctx.db.write(async (tx) => {
    const rows = await tx.all<{ device_id: string }>("SELECT device_id FROM devices WHERE user_id = ?", [
      userId,
    ]);
    await removeDevices(
      tx,
      ctx,
      userId,
      rows.map((row) => row.device_id),
    );
  });
  await wakeForDeviceListChange(ctx, userId);
}

const lastSeenWrites = new WeakMap<ServerContext, Map<string, number>>();

/** Records that a device made a request now, from `ip` (at most every few minutes per device). */
export async function touchDevice(ctx: ServerContext, session: Session, ip: string): Promise<void> {
  let written = lastSeenWrites.get(ctx);
  if (written === undefined) {
    written = new Map();
    lastSeenWrites.set(ctx, written);
  }
  const key = `${session.userId}\u0000${session.deviceId}`;
  const now = ctx.clock.now();
  const last = written.get(key);
  if (last !== undefined && now - last < LAST_SEEN_INTERVAL_MS) return;
  if (written.size >= MAX_TRACKED_DEVICES) written.clear();
  written.set(key, now);
  await ctx.db.write((tx) =>
    tx.run("UPDATE devices SET last_seen_ts = ?, last_seen_ip = ? WHERE user_id = ? AND device_id = ?", [
      now,
      ip,
      session.userId,
      session.deviceId,
    ]),
  );
}
