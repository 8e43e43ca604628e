// End-to-end keys: device keys, one-time keys and fallback keys (MLS key packages among them,
// section 9), cross-signing keys and the signatures users upload for them.
import { decodeBase64Lenient, decodeBase64Unpadded, encodeBase64Url } from "../../protocol/base64.js";
import { canonicalJson } from "../../protocol/canonicalJson.js";
import { STABLE_NAMES, UNSTABLE_NAMES } from "../../protocol/names.js";
import { verifyJsonSignature } from "../../protocol/signedJson.js";
import type { ServerContext } from "../context.js";
import { MatrixError, badJson, forbidden, invalidParam, missingParam } from "../errors.js";
import { isJsonObject, type JsonObject } from "../http/body.js";
import type { Migrations, Queryable, WriteTransaction } from "../storage/database.js";
import { DEVICE_LIST_TABLES, markDeviceListChanged, wakeForDeviceListChange } from "./deviceLists.js";
import {
  MlsCheckError,
  checkKeyPackage,
  claimableAlgorithms,
  hasMlsPrefix,
  invalidMlsKey,
  parseMlsAlgorithm,
  readBasicCredential,
  type MlsIdentity,
} from "./keyPackages.js";
import type { Session } from "./sessions.js";
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
  ],
};

function isLocalUser(ctx: ServerContext, userId: string): boolean {
  return userId.startsWith("@") && userId.slice(userId.indexOf(":") + 1) === ctx.config.serverName;
}

/** The signed part of a signed JSON object, as canonical JSON; M_BAD_JSON if it has none. */
function signedPartJson(value: JsonObject, what: string): string {
  const { signatures: _signatures, unsigned: _unsigned, ...rest } = value;
  try {
    return canonicalJson(rest);
  } catch (error) {
    throw badJson(`${what} is not canonical JSON: ${(error as Error).message}`);
  }
}

function verifies(
  ctx: ServerContext,
  value: JsonObject,
  signer: string,
  keyId: string,
  key: Uint8Array,
): boolean {
  try {
    return verifyJsonSignature(value, signer, keyId, key, ctx.crypto);
  } catch {
    return false;
  }
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isJsonObject(value) && Object.values(value).every((v) => typeof v === "string");
}

function isSignatures(value: unknown): value is Record<string, Record<string, string>> {
  return isJsonObject(value) && Object.values(value).every(isStringMap);
}

// ---------------------------------------------------------------------------------------------
// Upload

interface UploadedKey {
  readonly algorithm: string;
  readonly keyId: string;
  readonly json: string;
}

/** `<algorithm>:<key_id>` split at its first colon; M_BAD_JSON when either part is empty. */
function splitKeyId(fullId: string): [string, string] {
  const colon = fullId.indexOf(":");
  if (colon <= 0 || colon === fullId.length - 1)
    throw badJson(`Key ID ${fullId} is not <algorithm>:<key_id>`);
  return [fullId.slice(0, colon), fullId.slice(colon + 1)];
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

const MLS_CREDENTIAL_KEYS = [UNSTABLE_NAMES.prefix + "basic", STABLE_NAMES.prefix + "basic"];

/**
 * Device keys must name the caller's user and device. An MLS credential among them (D18) must be
 * a basic credential naming this device, and the keys must carry its D19 signature.
 */
function checkDeviceKeys(ctx: ServerContext, session: Session, deviceKeys: unknown): JsonObject {
  if (!isJsonObject(deviceKeys)) throw badJson("device_keys must be an object");
  if (deviceKeys.user_id !== session.userId) throw invalidParam("device_keys.user_id is not your user ID");
  if (deviceKeys.device_id !== session.deviceId)
    throw invalidParam("device_keys.device_id is not your device ID");
  const { algorithms, keys, signatures } = deviceKeys;
  if (!Array.isArray(algorithms) || !algorithms.every((a) => typeof a === "string")) {
    throw badJson("device_keys.algorithms must be a list of strings");
  }
  if (!isStringMap(keys)) throw badJson("device_keys.keys must map key IDs to strings");
  if (!isSignatures(signatures)) throw badJson("device_keys.signatures must map user IDs to signatures");
  const { unsigned: _unsigned, ...stored } = deviceKeys;
  signedPartJson(stored, "device_keys");
  for (const [keyId, value] of Object.entries(keys)) {
    const [algorithm, device] = splitKeyId(keyId);
    if (!hasMlsPrefix(algorithm)) continue;
    if (!MLS_CREDENTIAL_KEYS.includes(algorithm)) {
      throw badJson(`device_keys.keys.${keyId}: the only MLS device key is <prefix>basic:<device_id>`);
    }
    if (device !== session.deviceId) throw badJson(`device_keys.keys.${keyId} names another device`);
    let identity: MlsIdentity;
    try {
      identity = readBasicCredential(decodeBase64Lenient(value));
    } catch (error) {
      throw badJson(
        `device_keys.keys.${keyId} is not an MLS basic credential (D18): ${(error as Error).message}`,
      );
    }
    if (identity.userId !== session.userId || identity.deviceId !== session.deviceId) {
      throw badJson(`device_keys.keys.${keyId}: the credential names another device (section 9)`);
    }
    if (!verifies(ctx, stored, session.userId, keyId, identity.signatureKey)) {
      throw new MatrixError(
        400,
        "M_INVALID_SIGNATURE",
        `device_keys lack a valid signature by ${keyId} (D19)`,
      );
    }
  }
  return stored;
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
      : checkDeviceKeys(ctx, session, body.device_keys);
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
        await markDeviceListChanged(tx, userId);
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
 * POST /keys/claim for local users: per device, the oldest one-time key of the algorithm (D17:
 * an MLS algorithm matches either prefix), deleted in the same job so no key is handed out
 * twice; otherwise the fallback key, marked used. Devices without either are left out.
 */
export async function claimKeys(
  ctx: ServerContext,
  wanted: Record<string, Record<string, string>>,
): Promise<ClaimedKeys> {
  return ctx.db.write(async (tx) => {
    const claimed: ClaimedKeys = {};
    for (const [userId, devices] of Object.entries(wanted)) {
      if (!isLocalUser(ctx, userId)) continue;
      for (const [deviceId, algorithm] of Object.entries(devices)) {
        const key = await claimOne(tx, userId, deviceId, claimableAlgorithms(algorithm));
        if (key === undefined) continue;
        claimed[userId] ??= {};
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

interface SignatureRow {
  target_key: string;
  signer_user_id: string;
  signer_key_id: string;
  signature: string;
}

/** `value` with the uploaded signatures in `rows` added to its own. */
function withSignatures(value: JsonObject, rows: SignatureRow[]): JsonObject {
  if (rows.length === 0) return value;
  const signatures: Record<string, Record<string, string>> = {};
  for (const [signer, byKey] of Object.entries(
    (value.signatures ?? {}) as Record<string, Record<string, string>>,
  )) {
    signatures[signer] = { ...byKey };
  }
  for (const row of rows) {
    signatures[row.signer_user_id] ??= {};
    signatures[row.signer_user_id]![row.signer_key_id] = row.signature;
  }
  return { ...value, signatures };
}

export interface QueryResult {
  device_keys: Record<string, Record<string, JsonObject>>;
  master_keys: Record<string, JsonObject>;
  self_signing_keys: Record<string, JsonObject>;
  user_signing_keys: Record<string, JsonObject>;
}

/**
 * POST /keys/query for local users (others are left out until federation). Device keys carry
 * their owner's self-signing signatures; a master key carries signatures by its owner and by the
 * requester; the user-signing key is shown to its owner only.
 */
export async function queryKeys(
  ctx: ServerContext,
  requester: string,
  wanted: Record<string, string[]>,
): Promise<QueryResult> {
  const result: QueryResult = {
    device_keys: {},
    master_keys: {},
    self_signing_keys: {},
    user_signing_keys: {},
  };
  for (const [userId, deviceIds] of Object.entries(wanted)) {
    if (!isLocalUser(ctx, userId)) continue;
    const rows = await ctx.db.all<{ device_id: string; key_json: string; display_name: string | null }>(
      `SELECT k.device_id, k.key_json, d.display_name FROM e2e_device_keys k
       LEFT JOIN devices d ON d.user_id = k.user_id AND d.device_id = k.device_id
       WHERE k.user_id = ? ORDER BY k.device_id`,
      [userId],
    );
    const signatures = await ctx.db.all<SignatureRow>(
      `SELECT target_key, signer_user_id, signer_key_id, signature FROM e2e_signatures
       WHERE target_user_id = ? AND (signer_user_id = target_user_id OR signer_user_id = ?)`,
      [userId, requester],
    );
    const onKey = (key: string, anySigner: boolean) =>
      signatures.filter((s) => s.target_key === key && (anySigner || s.signer_user_id === userId));
    const devices: Record<string, JsonObject> = {};
    for (const row of rows) {
      if (deviceIds.length > 0 && !deviceIds.includes(row.device_id)) continue;
      const keys = withSignatures(JSON.parse(row.key_json) as JsonObject, onKey(row.device_id, false));
      const unsigned = row.display_name === null ? {} : { device_display_name: row.display_name };
      devices[row.device_id] = { ...keys, unsigned };
    }
    // Unknown users are left out (spec: no failure is recorded for them).
    const known =
      rows.length > 0 ||
      (await ctx.db.get("SELECT 1 AS found FROM users WHERE user_id = ?", [userId])) !== undefined;
    if (known) result.device_keys[userId] = devices;
    for (const key of await crossSigningKeys(ctx.db, userId)) {
      if (key.usage === "master") {
        result.master_keys[userId] = withSignatures(key.json, onKey(key.publicKey, true));
      } else if (key.usage === "self_signing") {
        result.self_signing_keys[userId] = withSignatures(key.json, onKey(key.publicKey, false));
      } else if (userId === requester) {
        result.user_signing_keys[userId] = withSignatures(key.json, onKey(key.publicKey, false));
      }
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------------
// Cross-signing keys

export const CROSS_SIGNING_USAGES = ["master", "self_signing", "user_signing"] as const;
export type CrossSigningUsage = (typeof CROSS_SIGNING_USAGES)[number];

interface CrossSigningKey {
  readonly usage: CrossSigningUsage;
  /** Unpadded base64 Ed25519 public key, as in its key ID `ed25519:<key>`. */
  readonly publicKey: string;
  readonly json: JsonObject;
}

async function crossSigningKeys(q: Queryable, userId: string): Promise<CrossSigningKey[]> {
  const rows = await q.all<{ usage: CrossSigningUsage; public_key: string; key_json: string }>(
    "SELECT usage, public_key, key_json FROM e2e_cross_signing_keys WHERE user_id = ?",
    [userId],
  );
  return rows.map((row) => ({ usage: row.usage, publicKey: row.public_key, json: JSON.parse(row.key_json) }));
}

async function crossSigningKey(q: Queryable, userId: string, usage: CrossSigningUsage) {
  return (await crossSigningKeys(q, userId)).find((key) => key.usage === usage);
}

function ed25519Key(publicKey: string): Uint8Array | undefined {
  try {
    const bytes = decodeBase64Unpadded(publicKey);
    return bytes.length === 32 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** Checks one uploaded cross-signing key's shape: its owner, usage and single Ed25519 key. */
function checkCrossSigningKey(userId: string, usage: CrossSigningUsage, value: unknown): CrossSigningKey {
  const field = `${usage}_key`;
  if (!isJsonObject(value)) throw badJson(`${field} must be an object`);
  if (value.user_id !== userId) throw invalidParam(`${field}.user_id is not your user ID`);
  const usages = value.usage;
  if (
    !Array.isArray(usages) ||
    !usages.includes(usage) ||
    !usages.every((u) => (CROSS_SIGNING_USAGES as readonly unknown[]).includes(u))
  ) {
    throw invalidParam(`${field}.usage must include "${usage}"`);
  }
  const keys = value.keys;
  if (!isStringMap(keys) || Object.keys(keys).length !== 1)
    throw invalidParam(`${field}.keys must hold one key`);
  const [keyId, publicKey] = Object.entries(keys)[0] as [string, string];
  if (keyId !== `ed25519:${publicKey}` || ed25519Key(publicKey) === undefined) {
    throw invalidParam(
      `${field}.keys must be {"ed25519:<key>": "<key>"} with an unpadded base64 Ed25519 key`,
    );
  }
  if (value.signatures !== undefined && !isSignatures(value.signatures)) {
    throw badJson(`${field}.signatures must map user IDs to signatures`);
  }
  const { unsigned: _unsigned, ...json } = value;
  signedPartJson(json, field);
  return { usage, publicKey, json };
}

export type CrossSigningUpload = Partial<Record<CrossSigningUsage, CrossSigningKey>>;

/**
 * Checks POST /keys/device_signing/upload: each key's shape, the master key's signature on the
 * others (the uploaded master, else the stored one), and that no key collides with a device ID.
 */
export async function checkCrossSigningUpload(
  ctx: ServerContext,
  userId: string,
  body: JsonObject,
): Promise<CrossSigningUpload> {
  const upload: CrossSigningUpload = {};
  for (const usage of CROSS_SIGNING_USAGES) {
    const value = body[`${usage}_key`];
    if (value !== undefined && value !== null) upload[usage] = checkCrossSigningKey(userId, usage, value);
  }
  const master = upload.master ?? (await crossSigningKey(ctx.db, userId, "master"));
  for (const usage of ["self_signing", "user_signing"] as const) {
    const key = upload[usage];
    if (key === undefined) continue;
    if (master === undefined) throw missingParam("master_key");
    const masterKey = ed25519Key(master.publicKey) as Uint8Array;
    if (!verifies(ctx, key.json, userId, `ed25519:${master.publicKey}`, masterKey)) {
      throw new MatrixError(400, "M_INVALID_SIGNATURE", `${usage}_key is not signed by the master key`);
    }
  }
  const devices = await ctx.db.all<{ device_id: string }>(
    `SELECT device_id FROM e2e_device_keys WHERE user_id = ?
     UNION SELECT device_id FROM devices WHERE user_id = ?`,
    [userId, userId],
  );
  for (const key of Object.values(upload)) {
    if (devices.some((d) => d.device_id === key.publicKey)) throw forbidden("Key ID in use");
  }
  return upload;
}

/**
 * User-interactive authentication is needed when a master key exists and the upload holds any
 * key other than the stored one (cross-signing spec: identical re-uploads need none).
 */
export async function crossSigningNeedsAuth(
  ctx: ServerContext,
  userId: string,
  upload: CrossSigningUpload,
): Promise<boolean> {
  const stored = await crossSigningKeys(ctx.db, userId);
  if (!stored.some((key) => key.usage === "master")) return false;
  return Object.values(upload).some((key) => {
    const old = stored.find((s) => s.usage === key.usage);
    return old === undefined || canonicalJson(old.json) !== canonicalJson(key.json);
  });
}

/** Stores the uploaded cross-signing keys; a change marks the user's device list changed. */
export async function storeCrossSigningKeys(
  ctx: ServerContext,
  userId: string,
  upload: CrossSigningUpload,
): Promise<void> {
  const changed = await ctx.db.write(async (tx) => {
    const stored = await crossSigningKeys(tx, userId);
    let changed = false;
    for (const key of Object.values(upload)) {
      const old = stored.find((s) => s.usage === key.usage);
      if (old !== undefined && canonicalJson(old.json) === canonicalJson(key.json)) continue;
      if (old !== undefined && old.publicKey !== key.publicKey) {
        await tx.run("DELETE FROM e2e_signatures WHERE target_user_id = ? AND target_key = ?", [
          userId,
          old.publicKey,
        ]);
      }
      await tx.run(
        `INSERT INTO e2e_cross_signing_keys (user_id, usage, public_key, key_json) VALUES (?, ?, ?, ?)
         ON CONFLICT (user_id, usage) DO UPDATE SET public_key = excluded.public_key, key_json = excluded.key_json`,
        [userId, key.usage, key.publicKey, canonicalJson(key.json)],
      );
      changed = true;
    }
    if (changed) await markDeviceListChanged(tx, userId);
    return changed;
  });
  if (changed) await wakeForDeviceListChange(ctx, userId);
}

// ---------------------------------------------------------------------------------------------
// Signatures

export type SignatureFailures = Record<string, Record<string, { errcode: string; error: string }>>;

interface NewSignature {
  readonly targetUser: string;
  readonly targetKey: string;
  readonly signerKeyId: string;
  readonly signature: string;
  /** Who hears of it: everyone (null) or the signer alone (a signature on another user's key). */
  readonly onlyFor: string | null;
}

class SignatureRefusal extends Error {
  constructor(
    readonly errcode: string,
    message: string,
  ) {
    super(message);
  }
}

/** The public key a device signs with under `keyId`: its Olm Ed25519 key or its MLS key (D19). */
function deviceSigningKey(deviceKeys: JsonObject, keyId: string): Uint8Array | undefined {
  const keys = deviceKeys.keys as Record<string, string>;
  const value = Object.hasOwn(keys, keyId) ? keys[keyId] : undefined;
  if (value === undefined) return undefined;
  if (keyId.startsWith("ed25519:")) return ed25519Key(value);
  try {
    return readBasicCredential(decodeBase64Lenient(value)).signatureKey;
  } catch {
    return undefined;
  }
}

/**
 * The new signatures by `signer` in `signed`, which must be the stored object `target` plus
 * signatures; each must verify with the key `signingKey` returns for its key ID.
 */
function newSignatures(
  ctx: ServerContext,
  signer: string,
  signed: JsonObject,
  target: JsonObject,
  signingKey: (keyId: string) => Uint8Array | undefined,
): [string, string][] {
  if (signedPartJson(signed, "signed object") !== signedPartJson(target, "")) {
    throw new SignatureRefusal("M_INVALID_PARAM", "The signed object does not match the stored key");
  }
  const given = isSignatures(signed.signatures) ? (signed.signatures[signer] ?? {}) : {};
  const existing = ((target.signatures ?? {}) as Record<string, Record<string, string>>)[signer] ?? {};
  const fresh = Object.entries(given).filter(([keyId, signature]) => existing[keyId] !== signature);
  if (fresh.length === 0) throw new SignatureRefusal("M_INVALID_SIGNATURE", `No new signature by ${signer}`);
  for (const [keyId] of fresh) {
    const key = signingKey(keyId);
    if (key === undefined)
      throw new SignatureRefusal("M_INVALID_SIGNATURE", `${keyId} may not sign this key`);
    if (!verifies(ctx, signed, signer, keyId, key)) {
      throw new SignatureRefusal("M_INVALID_SIGNATURE", `Invalid signature by ${keyId}`);
    }
  }
  return fresh;
}

async function checkSignature(
  ctx: ServerContext,
  signer: string,
  targetUser: string,
  targetKey: string,
  signed: unknown,
): Promise<NewSignature[]> {
  if (!isJsonObject(signed)) throw new SignatureRefusal("M_BAD_JSON", "The signed object must be an object");
  if (!isLocalUser(ctx, targetUser)) throw new SignatureRefusal("M_NOT_FOUND", "Unknown user");
  const crossSigning = await crossSigningKeys(ctx.db, signer);
  const bySigningKey = (usage: CrossSigningUsage) => (keyId: string) => {
    const key = crossSigning.find((k) => k.usage === usage);
    return key !== undefined && keyId === `ed25519:${key.publicKey}` ? ed25519Key(key.publicKey) : undefined;
  };
  const master = await crossSigningKey(ctx.db, targetUser, "master");
  const toRows = (pairs: [string, string][], onlyFor: string | null) =>
    pairs.map(([signerKeyId, signature]) => ({ targetUser, targetKey, signerKeyId, signature, onlyFor }));

  if (targetUser === signer) {
    const device = await ctx.db.get<{ key_json: string }>(
      "SELECT key_json FROM e2e_device_keys WHERE user_id = ? AND device_id = ?",
      [signer, targetKey],
    );
    if (device !== undefined) {
      // A device is signed by its owner's self-signing key.
      const stored = JSON.parse(device.key_json) as JsonObject;
      return toRows(newSignatures(ctx, signer, signed, stored, bySigningKey("self_signing")), null);
    }
    if (master !== undefined && master.publicKey === targetKey) {
      // The master key is signed by one of its owner's devices.
      const devices = await ctx.db.all<{ key_json: string }>(
        "SELECT key_json FROM e2e_device_keys WHERE user_id = ?",
        [signer],
      );
      const byDevice = (keyId: string) => {
        for (const row of devices) {
          const key = deviceSigningKey(JSON.parse(row.key_json) as JsonObject, keyId);
          if (key !== undefined) return key;
        }
        return undefined;
      };
      return toRows(newSignatures(ctx, signer, signed, master.json, byDevice), null);
    }
    throw new SignatureRefusal("M_NOT_FOUND", "Unknown device or key");
  }
  // Another user's master key is signed by the signer's user-signing key.
  if (master === undefined || master.publicKey !== targetKey) {
    throw new SignatureRefusal("M_NOT_FOUND", "Only another user's master key can be signed");
  }
  return toRows(newSignatures(ctx, signer, signed, master.json, bySigningKey("user_signing")), signer);
}

/**
 * POST /keys/signatures/upload: stores every valid signature; each refused one is reported in
 * `failures` under its user and key ID. A signature changes the signed user's device list
 * (for a signature on another user's key, only the signer hears of it).
 */
export async function uploadSignatures(
  ctx: ServerContext,
  session: Session,
  body: JsonObject,
): Promise<SignatureFailures> {
  const failures: SignatureFailures = {};
  const accepted: NewSignature[] = [];
  for (const [targetUser, byKey] of Object.entries(body)) {
    if (!isJsonObject(byKey)) throw badJson(`${targetUser} must map key IDs to signed objects`);
    for (const [targetKey, signed] of Object.entries(byKey)) {
      try {
        accepted.push(...(await checkSignature(ctx, session.userId, targetUser, targetKey, signed)));
      } catch (error) {
        if (!(error instanceof SignatureRefusal || error instanceof MatrixError)) throw error;
        failures[targetUser] ??= {};
        failures[targetUser][targetKey] = { errcode: error.errcode, error: error.message };
      }
    }
  }
  if (accepted.length === 0) return failures;
  const changes = new Map(accepted.map((s) => [`${s.targetUser}\n${s.onlyFor ?? ""}`, s]));
  await ctx.db.write(async (tx) => {
    for (const s of accepted) {
      await tx.run(
        `INSERT INTO e2e_signatures (target_user_id, target_key, signer_user_id, signer_key_id, signature)
         VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (target_user_id, target_key, signer_user_id, signer_key_id)
         DO UPDATE SET signature = excluded.signature`,
        [s.targetUser, s.targetKey, session.userId, s.signerKeyId, s.signature],
      );
    }
    for (const s of changes.values()) await markDeviceListChanged(tx, s.targetUser, s.onlyFor);
  });
  for (const s of changes.values()) {
    if (s.onlyFor === null) await wakeForDeviceListChange(ctx, s.targetUser);
    else ctx.notifier.wake([s.onlyFor]);
  }
  return failures;
}

// ---------------------------------------------------------------------------------------------
// Device deletion

/**
 * Removes everything keyed to a deleted device (its keys, signatures on it, its to-device
 * inbox) inside the caller's write job, and marks the user's device list changed. After the
 * commit, call wakeForDeviceListChange(ctx, userId).
 */
export async function deleteDeviceKeys(
  tx: WriteTransaction,
  userId: string,
  deviceId: string,
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
  if (had !== undefined) await markDeviceListChanged(tx, userId);
}
