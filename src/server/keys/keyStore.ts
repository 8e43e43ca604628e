// The e2e_* tables: their schema and all their SQL. Device keys, one-time and fallback keys (MLS
// key packages among them, section 9), cross-signing keys and uploaded signatures. The keys
// component's migrations also create the device list tables (deviceLists.ts owns their SQL).
import type { Migrations, Queryable, WriteTransaction } from "../storage/database.js";
import { DEVICE_LIST_RETENTION, DEVICE_LIST_STREAM_TABLES, DEVICE_LIST_TABLES } from "./deviceLists.js";

export const keysMigrations: Migrations = {
  component: "keys",
  versions: [
    [
      `CREATE TABLE e2e_device_keys (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        key_json TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id)
      )`,
      // uploaded: the stream position of the upload, so keys are claimed in upload order.
      `CREATE TABLE e2e_one_time_keys (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        key_id TEXT NOT NULL,
        key_json TEXT NOT NULL,
        uploaded BIGINT NOT NULL,
        PRIMARY KEY (user_id, device_id, algorithm, key_id)
      )`,
      "CREATE INDEX e2e_one_time_keys_order ON e2e_one_time_keys (user_id, device_id, algorithm, uploaded)",
      `CREATE TABLE e2e_fallback_keys (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        key_id TEXT NOT NULL,
        key_json TEXT NOT NULL,
        used INTEGER NOT NULL,
        PRIMARY KEY (user_id, device_id, algorithm)
      )`,
      // usage: master, self_signing or user_signing; public_key: unpadded base64 Ed25519 key.
      `CREATE TABLE e2e_cross_signing_keys (
        user_id TEXT NOT NULL,
        usage TEXT NOT NULL,
        public_key TEXT NOT NULL,
        key_json TEXT NOT NULL,
        PRIMARY KEY (user_id, usage)
      )`,
      // Signatures uploaded through /keys/signatures/upload; target_key is a device ID or a
      // cross-signing public key of target_user_id.
      `CREATE TABLE e2e_signatures (
        target_user_id TEXT NOT NULL,
        target_key TEXT NOT NULL,
        signer_user_id TEXT NOT NULL,
        signer_key_id TEXT NOT NULL,
        signature TEXT NOT NULL,
        PRIMARY KEY (target_user_id, target_key, signer_user_id, signer_key_id)
      )`,
      ...DEVICE_LIST_TABLES,
    ],
    [...DEVICE_LIST_STREAM_TABLES],
    [...DEVICE_LIST_RETENTION],
  ],
};

// ---------------------------------------------------------------------------------------------
// Device keys

/** The stored device keys (canonical JSON) of one device, if it uploaded any. */
export async function deviceKeyJson(
  q: Queryable,
  userId: string,
  deviceId: string,
): Promise<string | undefined> {
  const row = await q.get<{ key_json: string }>(
    "SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?",
    [userId, deviceId],
  );
  return row?.key_json;
}

/** The stored device keys (canonical JSON) of every device of a user. */
export async function userDeviceKeyJsons(q: Queryable, userId: string): Promise<string[]> {
  const rows = await q.all<{ key_json: string }>("SELECT key_json FROM e2e_device_keys WHERE user_id = ?", [
    userId,
  ]);
  return rows.map((row) => row.key_json);
}

export async function storeDeviceKeys(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
  json: string,
): Promise<void> {
  await tx.run(
    `INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)
     ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json`,
    [userId, deviceId, json],
  );
}

export interface DeviceKeysRow {
  readonly device_id: string;
  readonly key_json: string;
  readonly display_name: string | null;
}

/** A user's devices that have keys, by device ID, with their display names (devices table). */
export async function deviceKeysWithNames(q: Queryable, userId: string): Promise<DeviceKeysRow[]> {
  return q.all<DeviceKeysRow>(
    `SELECT k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
     LEFT JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
     WHERE k.user_id = ? ORDER BY k.device_id`,
    [userId],
  );
}

/** Device IDs of a user, with keys or signed in: a cross-signing key may not take one. */
export async function deviceIdsInUse(q: Queryable, userId: string): Promise<string[]> {
  const rows = await q.all<{ device_id: string }>(
    `SELECT device_id FROM e2e_device_keys WHERE user_id = ?
     UNION SELECT device_id FROM devices WHERE user_id = ?`,
    [userId, userId],
  );
  return rows.map((row) => row.device_id);
}

/**
 * Deletes a device's device, one-time and fallback keys and the signatures on it; returns
 * whether it had device keys.
 */
export async function deleteDeviceKeyRows(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
): Promise<boolean> {
  const had = (await deviceKeyJson(tx, userId, deviceId)) !== undefined;
  for (const table of ["e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"]) {
    await tx.run(`DELETE FROM ${table} WHERE user_id = ? AND device_id = ?`, [userId, deviceId]);
  }
  await deleteSignaturesOn(tx, userId, deviceId);
  return had;
}

// ---------------------------------------------------------------------------------------------
// One-time and fallback keys

/** One stored one-time key's JSON, if the device has a key of that ID. */
export async function oneTimeKeyJson(
  q: Queryable,
  userId: string,
  deviceId: string,
  algorithm: string,
  keyId: string,
): Promise<string | undefined> {
  const row = await q.get<{ key_json: string }>(
    "SELECT key_json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?",
    [userId, deviceId, algorithm, keyId],
  );
  return row?.key_json;
}

export interface StoredKey {
  readonly algorithm: string;
  readonly keyId: string;
  readonly json: string;
}

/** `uploaded`: the upload's stream position, so keys are claimed in upload order. */
export async function insertOneTimeKey(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
  key: StoredKey,
  uploaded: number,
): Promise<void> {
  await tx.run(
    "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, uploaded) VALUES (?, ?, ?, ?, ?, ?)",
    [userId, deviceId, key.algorithm, key.keyId, key.json, uploaded],
  );
}

/** Re-uploading the current fallback key keeps its used flag; any other key replaces it. */
export async function storeFallbackKey(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
  key: StoredKey,
): Promise<void> {
  await tx.run(
    `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES (?, ?, ?, ?, ?, 0)
     ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id,
       key_json = excluded.key_json, used = 0
     WHERE e2e_fallback_keys.key_id <> excluded.key_id OR e2e_fallback_keys.key_json <> excluded.key_json`,
    [userId, deviceId, key.algorithm, key.keyId, key.json],
  );
}

/** Unclaimed one-time keys per algorithm (`device_one_time_keys_count`). */
export async function oneTimeKeyCounts(
  q: Queryable,
  userId: string,
  deviceId: string,
): Promise<Record<string, number>> {
  const rows = await q.all<{ algorithm: string; n: number | string }>(
    "SELECT algorithm, COUNT(*) AS n FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? GROUP BY algorithm",
    [userId, deviceId],
  );
  return Object.fromEntries(rows.map((row) => [row.algorithm, Number(row.n)]));
}

/** Algorithms whose fallback key has not been handed out (`device_unused_fallback_key_types`). */
export async function unusedFallbackKeyTypes(
  q: Queryable,
  userId: string,
  deviceId: string,
): Promise<string[]> {
  const rows = await q.all<{ algorithm: string }>(
    "SELECT algorithm FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? AND used = 0 ORDER BY algorithm",
    [userId, deviceId],
  );
  return rows.map((row) => row.algorithm);
}

/** GET /keys/list (section 9): the full IDs of the device's stored one-time and fallback keys. */
export async function listKeys(
  q: Queryable,
  userId: string,
  deviceId: string,
): Promise<{ one_time_keys: string[]; fallback_keys: string[] }> {
  const oneTime = await q.all<{ algorithm: string; key_id: string }>(
    `SELECT algorithm, key_id FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ?
     ORDER BY uploaded, algorithm, key_id`,
    [userId, deviceId],
  );
  const fallback = await q.all<{ algorithm: string; key_id: string }>(
    "SELECT algorithm, key_id FROM e2e_fallback_keys WHERE user_id = ? AND device_id = ? ORDER BY algorithm",
    [userId, deviceId],
  );
  const ids = (rows: { algorithm: string; key_id: string }[]) =>
    rows.map((r) => `${r.algorithm}:${r.key_id}`);
  return { one_time_keys: ids(oneTime), fallback_keys: ids(fallback) };
}

export interface KeyRow {
  algorithm: string;
  key_id: string;
  key_json: string;
}

/**
 * Claims one key of the device in `algorithms`: the oldest one-time key, deleted so it is never
 * handed out twice; otherwise the fallback key, marked used. Undefined when there is neither.
 */
export async function claimOne(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
  algorithms: string[],
): Promise<KeyRow | undefined> {
  const marks = algorithms.map(() => "?").join(", ");
  const oneTime = await tx.get<KeyRow>(
    `SELECT algorithm, key_id, key_json FROM e2e_one_time_keys
     WHERE user_id = ? AND device_id = ? AND algorithm IN (${marks})
     ORDER BY uploaded, algorithm, key_id LIMIT 1`,
    [userId, deviceId, ...algorithms],
  );
  if (oneTime !== undefined) {
    await tx.run(
      "DELETE FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?",
      [userId, deviceId, oneTime.algorithm, oneTime.key_id],
    );
    return oneTime;
  }
  const fallback = await tx.get<KeyRow>(
    `SELECT algorithm, key_id, key_json FROM e2e_fallback_keys
     WHERE user_id = ? AND device_id = ? AND algorithm IN (${marks}) ORDER BY algorithm LIMIT 1`,
    [userId, deviceId, ...algorithms],
  );
  if (fallback !== undefined) {
    await tx.run(
      "UPDATE e2e_fallback_keys SET used = 1 WHERE user_id = ? AND device_id = ? AND algorithm = ?",
      [userId, deviceId, fallback.algorithm],
    );
  }
  return fallback;
}

// ---------------------------------------------------------------------------------------------
// Cross-signing keys

export interface CrossSigningKeyRow {
  readonly usage: string;
  readonly public_key: string;
  readonly key_json: string;
}

export async function crossSigningKeyRows(q: Queryable, userId: string): Promise<CrossSigningKeyRow[]> {
  return q.all<CrossSigningKeyRow>(
    "SELECT usage, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id = ?",
    [userId],
  );
}

export async function storeCrossSigningKey(
  tx: WriteTransaction,
  userId: string,
  key: { readonly usage: string; readonly publicKey: string; readonly json: string },
): Promise<void> {
  await tx.run(
    `INSERT INTO e2e_cross_signing_keys (user_id, usage, public_key, key_json) VALUES (?, ?, ?, ?)
     ON CONFLICT (user_id, usage) DO UPDATE SET public_key = excluded.public_key, key_json = excluded.key_json`,
    [userId, key.usage, key.publicKey, key.json],
  );
}

// ---------------------------------------------------------------------------------------------
// Uploaded signatures

/** A row of e2e_signatures: a signature uploaded through /keys/signatures/upload. */
export interface SignatureRow {
  target_key: string;
  signer_user_id: string;
  signer_key_id: string;
  signature: string;
}

/**
 * Signatures uploaded for `userId`'s keys that a requester may see: the owner's and, when a
 * local user asks, that user's own (another server asks with `requester` undefined).
 */
export async function uploadedSignatures(
  q: Queryable,
  userId: string,
  requester: string | undefined,
): Promise<SignatureRow[]> {
  return q.all<SignatureRow>(
    `SELECT target_key, signer_user_id, signer_key_id, signature FROM e2e_signatures
     WHERE target_user_id = ? AND (signer_user_id = target_user_id OR signer_user_id = ?)`,
    [userId, requester ?? userId],
  );
}

/** Stores (or replaces) `signer`'s signature under `signerKeyId` on a key of `targetUser`. */
export async function storeSignature(
  tx: WriteTransaction,
  signer: string,
  signature: {
    readonly targetUser: string;
    readonly targetKey: string;
    readonly signerKeyId: string;
    readonly signature: string;
  },
): Promise<void> {
  await tx.run(
    `INSERT INTO e2e_signatures (target_user_id, target_key, signer_user_id, signer_key_id, signature)
     VALUES (?, ?, ?, ?, ?)
     ON CONFLICT (target_user_id, target_key, signer_user_id, signer_key_id)
     DO UPDATE SET signature = excluded.signature`,
    [signature.targetUser, signature.targetKey, signer, signature.signerKeyId, signature.signature],
  );
}

/** Deletes every signature on a key (device ID or cross-signing public key) of `userId`. */
export async function deleteSignaturesOn(
  tx: WriteTransaction,
  userId: string,
  targetKey: string,
): Promise<void> {
  await tx.run("DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key = ?", [userId, targetKey]);
}
