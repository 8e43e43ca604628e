// End-to-end keys: device keys, one-time keys and fallback keys (MLS key packages among them,
// section 9), for local devices: uploaded, counted, claimed, queried, deleted with their device.
// The same claim and query serve local clients and other servers (federation/edus/userKeys.ts).
// Cross-signing keys are in crossSigning.ts, uploaded signatures in keySignatures.ts.
import { encodeBase64Url } from "../../protocol/base64.js";
import { canonicalJson } from "../../protocol/canonicalJson.js";
import { userIdServerName } from "../../protocol/identifiers.js";
import type { ServerContext } from "../context.js";
import { badJson } from "../errors.js";
import { announceDeviceChange } from "../federation/edus/deviceListOutbound.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { keyedRecord } from "../keyedRecord.js";
import type { Migrations, Queryable, WriteTransaction } from "../storage/database.js";
import { publishedCrossSigningKeys, uploadedSignatures } from "./crossSigning.js";
import {
  DEVICE_LIST_RETENTION,
  DEVICE_LIST_STREAM_TABLES,
  DEVICE_LIST_TABLES,
  markDeviceListChanged,
  wakeForDeviceListChange,
} from "./deviceLists.js";
import { checkDeviceKeys, splitKeyId } from "./deviceKeysCheck.js";
import { signedPartJson, withSignatures, type SignatureRow } from "./keyJson.js";
import {
  MlsCheckError,
  checkKeyPackage,
  claimableAlgorithms,
  hasMlsPrefix,
  invalidMlsKey,
  parseMlsAlgorithm,
} from "./keyPackages.js";
import type { Session } from "../auth/sessions.js";
import { deleteDeviceInbox } from "./toDevice.js";

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

function isLocalUser(ctx: ServerContext, userId: string): boolean {
  return userIdServerName(userId) === ctx.config.serverName;
}

// ---------------------------------------------------------------------------------------------
// Upload

interface UploadedKey {
  readonly algorithm: string;
  readonly keyId: string;
  readonly json: string;
}

async function checkKeyMap(
  map: unknown,
  field: string,
  session: Session,
  now: number,
): Promise<UploadedKey[]> {
  if (map === undefined || map === null) return [];
  if (!isJsonObject(map)) throw badJson(`${field} must be an object`);
  const keys: UploadedKey[] = [];
  for (const [fullId, value] of Object.entries(map)) {
    const [algorithm, keyId] = splitKeyId(fullId);
    if (hasMlsPrefix(algorithm)) {
      const mls = parseMlsAlgorithm(algorithm);
      if (mls === undefined) throw badJson(`Invalid MLS key ${fullId}: unknown ciphersuite`);
      let bytes: Uint8Array;
      try {
        bytes = await checkKeyPackage(mls, keyId, value, { ...session, now });
      } catch (error) {
        if (error instanceof MlsCheckError) throw invalidMlsKey(fullId, error);
        throw error;
      }
      // Stored and handed out in the form D5 writes, whichever form the device sent.
      keys.push({ algorithm, keyId, json: JSON.stringify(encodeBase64Url(bytes)) });
      continue;
    }
    if (typeof value !== "string" && !isJsonObject(value)) {
      throw badJson(`Key ${fullId} in ${field} must be a string or an object`);
    }
    keys.push({ algorithm, keyId, json: JSON.stringify(value) });
  }
  return keys;
}

/**
 * POST /keys/upload. Everything is checked before anything is stored: one bad key refuses the
 * whole upload. Returns the device's one-time key counts.
 */
export async function uploadKeys(
  ctx: ServerContext,
  session: Session,
  body: JsonObject,
): Promise<Record<string, number>> {
  const now = ctx.clock.now();
  const deviceKeys =
    body.device_keys === undefined || body.device_keys === null
      ? undefined
      : checkDeviceKeys(ctx.crypto, session.userId, session.deviceId, body.device_keys);
  const oneTimeKeys = await checkKeyMap(body.one_time_keys, "one_time_keys", session, now);
  const fallbackKeys = await checkKeyMap(body.fallback_keys, "fallback_keys", session, now);
  const fallbackAlgorithms = new Set(fallbackKeys.map((key) => key.algorithm));
  if (fallbackAlgorithms.size !== fallbackKeys.length)
    throw badJson("fallback_keys holds two keys of one algorithm");

  const { userId, deviceId } = session;
  const { counts, changed } = await ctx.db.write(async (tx) => {
    let changed = false;
    if (deviceKeys !== undefined) {
      const json = canonicalJson(deviceKeys);
      const old = await tx.get<{ key_json: string }>(
        "SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?",
        [userId, deviceId],
      );
      if (old === undefined || canonicalJson(JSON.parse(old.key_json)) !== json) {
        await tx.run(
          `INSERT INTO e2e_device_keys (user_id, device_id, key_json) VALUES (?, ?, ?)
           ON CONFLICT (user_id, device_id) DO UPDATE SET key_json = excluded.key_json`,
          [userId, deviceId, json],
        );
        // Signatures by others covered the old keys; they cannot cover changed ones.
        const oldSigned =
          old === undefined ? undefined : signedPartJson(JSON.parse(old.key_json) as JsonObject, "");
        if (oldSigned !== signedPartJson(deviceKeys, "device_keys")) {
          await tx.run("DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key = ?", [
            userId,
            deviceId,
          ]);
        }
        const streamId = await markDeviceListChanged(tx, userId);
        const keys = await federatedDeviceKeys(tx, userId, deviceId);
        await announceDeviceChange(tx, ctx, { userId, deviceId, streamId, keys });
        changed = true;
      }
    }
    if (oneTimeKeys.length > 0) {
      const uploaded = tx.nextStreamPosition();
      for (const key of oneTimeKeys) {
        const old = await tx.get<{ key_json: string }>(
          "SELECT key_json FROM e2e_one_time_keys WHERE user_id = ? AND device_id = ? AND algorithm = ? AND key_id = ?",
          [userId, deviceId, key.algorithm, key.keyId],
        );
        if (old !== undefined) {
          if (old.key_json === key.json) continue;
          throw badJson(`One-time key ${key.algorithm}:${key.keyId} already exists with other content`);
        }
        await tx.run(
          "INSERT INTO e2e_one_time_keys (user_id, device_id, algorithm, key_id, key_json, uploaded) VALUES (?, ?, ?, ?, ?, ?)",
          [userId, deviceId, key.algorithm, key.keyId, key.json, uploaded],
        );
      }
    }
    for (const key of fallbackKeys) {
      // Re-uploading the current fallback key keeps its used flag; any other key replaces it.
      await tx.run(
        `INSERT INTO e2e_fallback_keys (user_id, device_id, algorithm, key_id, key_json, used) VALUES (?, ?, ?, ?, ?, 0)
         ON CONFLICT (user_id, device_id, algorithm) DO UPDATE SET key_id = excluded.key_id,
           key_json = excluded.key_json, used = 0
         WHERE e2e_fallback_keys.key_id <> excluded.key_id OR e2e_fallback_keys.key_json <> excluded.key_json`,
        [userId, deviceId, key.algorithm, key.keyId, key.json],
      );
    }
    return { counts: await oneTimeKeyCounts(tx, userId, deviceId), changed };
  });
  if (changed) await wakeForDeviceListChange(ctx, userId);
  return counts;
}

// ---------------------------------------------------------------------------------------------
// Counts and lists of a device's own keys

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

// ---------------------------------------------------------------------------------------------
// Claim

export type ClaimedKeys = Record<string, Record<string, Record<string, unknown>>>;

/**
 * /keys/claim for local users, asked by a local client or another server: per device, the
 * oldest one-time key of the algorithm (D17: an MLS algorithm matches either prefix), deleted in
 * the same job so no key is handed out twice; otherwise the fallback key, marked used. Devices
 * without either, and users of other servers, are left out.
 */
export async function claimLocalKeys(
  ctx: ServerContext,
  wanted: Record<string, Record<string, string>>,
): Promise<ClaimedKeys> {
  return ctx.db.write(async (tx) => {
    const claimed: ClaimedKeys = keyedRecord();
    for (const [userId, devices] of Object.entries(wanted)) {
      if (!isLocalUser(ctx, userId)) continue;
      for (const [deviceId, algorithm] of Object.entries(devices)) {
        const key = await claimOne(tx, userId, deviceId, claimableAlgorithms(algorithm));
        if (key === undefined) continue;
        claimed[userId] ??= keyedRecord();
        claimed[userId][deviceId] = {
          [`${key.algorithm}:${key.key_id}`]: JSON.parse(key.key_json) as unknown,
        };
      }
    }
    return claimed;
  });
}

interface KeyRow {
  algorithm: string;
  key_id: string;
  key_json: string;
}

async function claimOne(
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
// Query

export interface PublishedDevice {
  readonly deviceId: string;
  /** The uploaded device keys with the owner's uploaded signatures (self-signing) added. */
  readonly keys: JsonObject;
  readonly displayName: string | null;
}

/** A local user's devices that have keys, by device ID; `signatures` from uploadedSignatures. */
export async function publishedDevices(
  q: Queryable,
  userId: string,
  signatures: readonly SignatureRow[],
): Promise<PublishedDevice[]> {
  const rows = await q.all<{ device_id: string; key_json: string; display_name: string | null }>(
    `SELECT k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
     LEFT JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
     WHERE k.user_id = ? ORDER BY k.device_id`,
    [userId],
  );
  const byOwner = (deviceId: string) =>
    signatures.filter((s) => s.target_key === deviceId && s.signer_user_id === userId);
  return rows.map((row) => ({
    deviceId: row.device_id,
    keys: withSignatures(JSON.parse(row.key_json) as JsonObject, byOwner(row.device_id)),
    displayName: row.display_name,
  }));
}

/** One device's keys as other servers see them (m.device_list_update); undefined without keys. */
export async function federatedDeviceKeys(
  q: Queryable,
  userId: string,
  deviceId: string,
): Promise<JsonObject | undefined> {
  const devices = await publishedDevices(q, userId, await uploadedSignatures(q, userId, undefined));
  return devices.find((device) => device.deviceId === deviceId)?.keys;
}

export interface QueryResult {
  device_keys: Record<string, Record<string, JsonObject>>;
  master_keys: Record<string, JsonObject>;
  self_signing_keys: Record<string, JsonObject>;
  user_signing_keys: Record<string, JsonObject>;
}

export function emptyQueryResult(): QueryResult {
  return {
    device_keys: keyedRecord(),
    master_keys: keyedRecord(),
    self_signing_keys: keyedRecord(),
    user_signing_keys: keyedRecord(),
  };
}

/**
 * /keys/query for local users, for a local `requester` or, with `requester` undefined, for
 * another server (POST /user/keys/query). Device keys carry their owner's self-signing
 * signatures; a master key carries signatures by its owner and by the requester; the
 * user-signing key is shown to its owner only. Other servers get no device display names
 * (they would tell them about the user's hardware and habits; Synapse withholds them too by
 * default). Users of other servers in `wanted` are left out.
 */
export async function queryLocalKeys(
  ctx: ServerContext,
  requester: string | undefined,
  wanted: Record<string, readonly string[]>,
): Promise<QueryResult> {
  const result = emptyQueryResult();
  for (const [userId, deviceIds] of Object.entries(wanted)) {
    if (!isLocalUser(ctx, userId)) continue;
    const signatures = await uploadedSignatures(ctx.db, userId, requester);
    const published = await publishedDevices(ctx.db, userId, signatures);
    const devices: Record<string, JsonObject> = keyedRecord();
    for (const device of published) {
      if (deviceIds.length > 0 && !deviceIds.includes(device.deviceId)) continue;
      const shown = requester !== undefined && device.displayName !== null;
      devices[device.deviceId] = {
        ...device.keys,
        unsigned: shown ? { device_display_name: device.displayName } : {},
      };
    }
    // Unknown users are left out (spec: no failure is recorded for them).
    const known =
      published.length > 0 ||
      (await ctx.db.get("SELECT 1 AS found FROM users WHERE user_id = ?", [userId])) !== undefined;
    if (known) result.device_keys[userId] = devices;
    const crossSigning = await publishedCrossSigningKeys(ctx.db, userId, requester, signatures);
    if (crossSigning.master) result.master_keys[userId] = crossSigning.master;
    if (crossSigning.self_signing) result.self_signing_keys[userId] = crossSigning.self_signing;
    if (crossSigning.user_signing) result.user_signing_keys[userId] = crossSigning.user_signing;
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Device deletion

/**
 * Removes everything keyed to a deleted device (its keys, signatures on it, its to-device
 * inbox) inside the caller's write job, and marks the user's device list changed. With `ctx`,
 * the deletion is also announced to the servers sharing a room with the user. After the commit,
 * call wakeForDeviceListChange(ctx, userId).
 */
export async function deleteDeviceKeys(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
  ctx: ServerContext,
): Promise<void> {
  const had = await tx.get<{ found: number }>(
    "SELECT 1 AS found FROM e2e_device_keys WHERE user_id = ? AND device_id = ?",
    [userId, deviceId],
  );
  for (const table of ["e2e_device_keys", "e2e_one_time_keys", "e2e_fallback_keys"]) {
    await tx.run(`DELETE FROM ${table} WHERE user_id = ? AND device_id = ?`, [userId, deviceId]);
  }
  await tx.run("DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key = ?", [userId, deviceId]);
  await deleteDeviceInbox(tx, userId, deviceId);
  if (had === undefined) return;
  const streamId = await markDeviceListChanged(tx, userId);
  await announceDeviceChange(tx, ctx, { userId, deviceId, streamId, deleted: true });
}
