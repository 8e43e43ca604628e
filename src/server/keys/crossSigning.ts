// Cross-signing keys (client-server spec, "Cross-signing"): each user's master, self-signing and
// user-signing keys, checked on upload, published with the signatures uploaded for them, and
// announced to the servers sharing a room with the user when they change.
import { canonicalJson } from "../../protocol/canonicalJson.js";
import type { ProtocolCrypto } from "../../protocol/crypto.js";
import type { ServerContext } from "../context.js";
import { badJson, forbidden, invalidParam, invalidSignature, missingParam } from "./keyErrors.js";
import { isJsonObject, type JsonObject } from "../json.js";
import type { Queryable } from "../storage/database.js";
import { markDeviceListChanged, wakeForDeviceListChange } from "./deviceLists.js";
import type { PublishedSigningKeys } from "../keyFederation.js";
import {
  ed25519Key,
  isSignatures,
  isStringMap,
  signedPartJson,
  verifies,
  withSignatures,
} from "./keyJson.js";
import {
  crossSigningKeyRows,
  deleteSignaturesOn,
  deviceIdsInUse,
  storeCrossSigningKey,
  uploadedSignatures,
  type SignatureRow,
} from "./keyStore.js";

export const CROSS_SIGNING_USAGES = ["master", "self_signing", "user_signing"] as const;
export type CrossSigningUsage = (typeof CROSS_SIGNING_USAGES)[number];

function isCrossSigningUsage(usage: string): usage is CrossSigningUsage {
  return (CROSS_SIGNING_USAGES as readonly string[]).includes(usage);
}

export interface CrossSigningKey {
  readonly usage: CrossSigningUsage;
  /** Unpadded base64 Ed25519 public key, as in its key ID `ed25519:<key>`. */
  readonly publicKey: string;
  readonly json: JsonObject;
}

export async function crossSigningKeys(q: Queryable, userId: string): Promise<CrossSigningKey[]> {
  // The usage column holds only the usages checkCrossSigningKey accepted.
  return (await crossSigningKeyRows(q, userId)).flatMap((row) =>
    isCrossSigningUsage(row.usage)
      ? [{ usage: row.usage, publicKey: row.public_key, json: JSON.parse(row.key_json) as JsonObject }]
      : [],
  );
}

export async function crossSigningKey(q: Queryable, userId: string, usage: CrossSigningUsage) {
  return (await crossSigningKeys(q, userId)).find((key) => key.usage === usage);
}

export type PublishedCrossSigningKeys = Partial<Record<CrossSigningUsage, JsonObject>>;

/**
 * The user's cross-signing keys as /keys/query shows them: the master key with the signatures in
 * `signatures` (see uploadedSignatures), the self-signing key with its owner's, and the
 * user-signing key only to its owner.
 */
export async function publishedCrossSigningKeys(
  q: Queryable,
  userId: string,
  requester: string | undefined,
  signatures: readonly SignatureRow[],
): Promise<PublishedCrossSigningKeys> {
  const published: PublishedCrossSigningKeys = {};
  const onKey = (key: string, anySigner: boolean) =>
    signatures.filter((s) => s.target_key === key && (anySigner || s.signer_user_id === userId));
  for (const key of await crossSigningKeys(q, userId)) {
    if (key.usage === "user_signing" && requester !== userId) continue;
    published[key.usage] = withSignatures(key.json, onKey(key.publicKey, key.usage === "master"));
  }
  return published;
}

/** The master and self-signing keys as other servers see them (m.signing_key_update, /user/devices). */
export async function federatedSigningKeys(q: Queryable, userId: string): Promise<PublishedSigningKeys> {
  const keys = await publishedCrossSigningKeys(
    q,
    userId,
    undefined,
    await uploadedSignatures(q, userId, undefined),
  );
  return {
    ...(keys.master !== undefined && { master_key: keys.master }),
    ...(keys.self_signing !== undefined && { self_signing_key: keys.self_signing }),
  };
}

/**
 * Checks one cross-signing key's shape: its owner, usage and single Ed25519 key. Throws
 * KeyError (M_BAD_JSON, M_INVALID_PARAM) naming `${usage}_key`.
 */
export function checkCrossSigningKey(
  userId: string,
  usage: CrossSigningUsage,
  value: unknown,
): CrossSigningKey {
  const field = `${usage}_key`;
  if (!isJsonObject(value)) throw badJson(`${field} must be an object`);
  if (value.user_id !== userId) throw invalidParam(`${field}.user_id is not ${userId}`);
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

/** True when `key` carries its owner's master key's signature. */
export function signedByMaster(
  crypto: ProtocolCrypto,
  userId: string,
  key: CrossSigningKey,
  master: CrossSigningKey,
): boolean {
  const masterKey = ed25519Key(master.publicKey) as Uint8Array;
  return verifies(crypto, key.json, userId, `ed25519:${master.publicKey}`, masterKey);
}

export type CrossSigningUpload = Partial<Record<CrossSigningUsage, CrossSigningKey>>;

/** The keys of an upload as given, by usage (`<usage>_key`), not yet checked. */
export type CrossSigningUploadBody = Partial<Record<CrossSigningUsage, unknown>>;

/**
 * Checks POST /keys/device_signing/upload: each key's shape, the master key's signature on the
 * others (the uploaded master, else the stored one), and that no key collides with a device ID.
 */
export async function checkCrossSigningUpload(
  ctx: ServerContext,
  userId: string,
  body: CrossSigningUploadBody,
): Promise<CrossSigningUpload> {
  const upload: CrossSigningUpload = {};
  for (const usage of CROSS_SIGNING_USAGES) {
    const value = body[usage];
    if (value !== undefined) upload[usage] = checkCrossSigningKey(userId, usage, value);
  }
  const master = upload.master ?? (await crossSigningKey(ctx.db, userId, "master"));
  for (const usage of ["self_signing", "user_signing"] as const) {
    const key = upload[usage];
    if (key === undefined) continue;
    if (master === undefined) throw missingParam("master_key");
    if (!signedByMaster(ctx.crypto, userId, key, master)) {
      throw invalidSignature(`${usage}_key is not signed by the master key`);
    }
  }
  const devices = await deviceIdsInUse(ctx.db, userId);
  for (const key of Object.values(upload)) {
    if (devices.includes(key.publicKey)) throw forbidden("Key ID in use");
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

/**
 * Stores the uploaded cross-signing keys; a change marks the user's device list changed and, when
 * the master or self-signing key changed, is announced to the servers sharing a room with them.
 */
export async function storeCrossSigningKeys(
  ctx: ServerContext,
  userId: string,
  upload: CrossSigningUpload,
): Promise<void> {
  const changed = await ctx.db.write(async (tx) => {
    const stored = await crossSigningKeys(tx, userId);
    const changedUsages: CrossSigningUsage[] = [];
    for (const key of Object.values(upload)) {
      const old = stored.find((s) => s.usage === key.usage);
      if (old !== undefined && canonicalJson(old.json) === canonicalJson(key.json)) continue;
      if (old !== undefined && old.publicKey !== key.publicKey) {
        await deleteSignaturesOn(tx, userId, old.publicKey);
      }
      await storeCrossSigningKey(tx, userId, { ...key, json: canonicalJson(key.json) });
      changedUsages.push(key.usage);
    }
    if (changedUsages.length === 0) return false;
    await markDeviceListChanged(tx, userId);
    // The user-signing key is the owner's business alone: other servers never see it.
    if (changedUsages.some((usage) => usage !== "user_signing")) {
      await ctx.keyFederation.announceSigningKeys(tx, userId, await federatedSigningKeys(tx, userId));
    }
    return true;
  });
  if (changed) await wakeForDeviceListChange(ctx, userId);
}
