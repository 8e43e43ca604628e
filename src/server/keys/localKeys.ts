// End-to-end keys: device keys, one-time keys and fallback keys (MLS key packages among them,
// section 9), for local devices: uploaded, counted, claimed, queried, deleted with their device.
// The same claim and query serve local clients and other servers (federation/edus/userKeys.ts).
// Cross-signing keys are in crossSigning.ts, uploaded signatures in keySignatures.ts, their rows
// in keyStore.ts.
import { encodeBase64Url } from "../../protocol/base64.js";
import { canonicalJson } from "../../protocol/canonicalJson.js";
import { userIdServerName } from "../../protocol/identifiers.js";
import type { ServerContext } from "../context.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { keyedRecord } from "../keyedRecord.js";
import type { Queryable, WriteTransaction } from "../storage/database.js";
import { publishedCrossSigningKeys } from "./crossSigning.js";
import { announceDeviceChange, markDeviceListChanged, wakeForDeviceListChange } from "./deviceLists.js";
import { checkDeviceKeys, splitKeyId } from "./deviceKeysCheck.js";
import { badJson } from "./keyErrors.js";
import { signedPartJson, withSignatures } from "./keyJson.js";
import {
  MlsCheckError,
  checkKeyPackage,
  claimableAlgorithms,
  hasMlsPrefix,
  invalidMlsKey,
  parseMlsAlgorithm,
} from "./keyPackages.js";
import {
  claimOne,
  deleteDeviceKeyRows,
  deleteSignaturesOn,
  deviceKeyJson,
  deviceKeysWithNames,
  insertOneTimeKey,
  oneTimeKeyCounts,
  oneTimeKeyJson,
  storeDeviceKeys,
  storeFallbackKey,
  uploadedSignatures,
  type SignatureRow,
  type StoredKey,
} from "./keyStore.js";

/** The device whose keys are uploaded (the request's session). */
export interface KeyOwner {
  readonly userId: string;
  readonly deviceId: string;
}

function isLocalUser(ctx: ServerContext, userId: string): boolean {
  return userIdServerName(userId) === ctx.config.serverName;
}

// ---------------------------------------------------------------------------------------------
// Upload

/** POST /keys/upload as read at the edge: each part absent or an object. */
export interface KeysUpload {
  readonly deviceKeys?: JsonObject | undefined;
  readonly oneTimeKeys?: JsonObject | undefined;
  readonly fallbackKeys?: JsonObject | undefined;
}

async function checkKeyMap(
  map: JsonObject | undefined,
  field: string,
  session: KeyOwner,
  now: number,
): Promise<StoredKey[]> {
  if (map === undefined) return [];
  const keys: StoredKey[] = [];
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
  session: KeyOwner,
  upload: KeysUpload,
): Promise<Record<string, number>> {
  const now = ctx.clock.now();
  const deviceKeys =
    upload.deviceKeys === undefined
      ? undefined
      : checkDeviceKeys(ctx.crypto, session.userId, session.deviceId, upload.deviceKeys);
  const oneTimeKeys = await checkKeyMap(upload.oneTimeKeys, "one_time_keys", session, now);
  const fallbackKeys = await checkKeyMap(upload.fallbackKeys, "fallback_keys", session, now);
  const fallbackAlgorithms = new Set(fallbackKeys.map((key) => key.algorithm));
  if (fallbackAlgorithms.size !== fallbackKeys.length)
    throw badJson("fallback_keys holds two keys of one algorithm");

  const { userId, deviceId } = session;
  const { counts, changed } = await ctx.db.write(async (tx) => {
    let changed = false;
    if (deviceKeys !== undefined) {
      const json = canonicalJson(deviceKeys);
      const old = await deviceKeyJson(tx, userId, deviceId);
      if (old === undefined || canonicalJson(JSON.parse(old)) !== json) {
        await storeDeviceKeys(tx, userId, deviceId, json);
        // Signatures by others covered the old keys; they cannot cover changed ones.
        const oldSigned = old === undefined ? undefined : signedPartJson(JSON.parse(old) as JsonObject, "");
        if (oldSigned !== signedPartJson(deviceKeys, "device_keys")) {
          await deleteSignaturesOn(tx, userId, deviceId);
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
        const old = await oneTimeKeyJson(tx, userId, deviceId, key.algorithm, key.keyId);
        if (old !== undefined) {
          if (old === key.json) continue;
          throw badJson(`One-time key ${key.algorithm}:${key.keyId} already exists with other content`);
        }
        await insertOneTimeKey(tx, userId, deviceId, key, uploaded);
      }
    }
    for (const key of fallbackKeys) await storeFallbackKey(tx, userId, deviceId, key);
    return { counts: await oneTimeKeyCounts(tx, userId, deviceId), changed };
  });
  if (changed) await wakeForDeviceListChange(ctx, userId);
  return counts;
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
  const rows = await deviceKeysWithNames(q, userId);
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
 * Removes everything keyed to a deleted device (its keys, signatures on it) inside the caller's
 * write job, and marks the user's device list changed; the deletion is also announced to the
 * servers sharing a room with the user. After the commit, call wakeForDeviceListChange(ctx, userId).
 */
export async function deleteDeviceKeys(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
  ctx: ServerContext,
): Promise<void> {
  if (!(await deleteDeviceKeyRows(tx, userId, deviceId))) return;
  const streamId = await markDeviceListChanged(tx, userId);
  await announceDeviceChange(tx, ctx, { userId, deviceId, streamId, deleted: true });
}
