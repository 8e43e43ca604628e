// Signatures users upload for keys (POST /keys/signatures/upload, client-server spec
// "Cross-signing"): a device signed by its owner's self-signing key, a master key signed by one of
// its owner's devices, another user's master key signed by the signer's user-signing key.
import { decodeBase64Lenient } from "../../protocol/base64.js";
import { userIdServerName } from "../../protocol/identifiers.js";
import type { ServerContext } from "../context.js";
import { MatrixError, badJson } from "../errors.js";
import { announceDeviceChange, announceSigningKeys } from "../federation/edus/deviceListOutbound.js";
import { DEFAULT_KEYS_TIMEOUT_MS, queryKeys } from "../federation/edus/remoteKeys.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { keyedRecord } from "../keyedRecord.js";
import {
  crossSigningKey,
  crossSigningKeys,
  federatedSigningKeys,
  type CrossSigningUsage,
} from "./crossSigning.js";
import { markDeviceListChanged, wakeForDeviceListChange } from "./deviceLists.js";
import { ed25519Key, isSignatures, signedPartJson, verifies } from "./keyJson.js";
import { readBasicCredential } from "./keyPackages.js";
import { federatedDeviceKeys } from "./keys.js";
import type { Session } from "../auth/sessions.js";

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
  const fresh = Object.entries(given).filter(
    ([keyId, signature]) => !Object.hasOwn(existing, keyId) || existing[keyId] !== signature,
  );
  if (fresh.length === 0) throw new SignatureRefusal("M_INVALID_SIGNATURE", `No new signature by ${signer}`);
  for (const [keyId] of fresh) {
    const key = signingKey(keyId);
    if (key === undefined)
      throw new SignatureRefusal("M_INVALID_SIGNATURE", `${keyId} may not sign this key`);
    if (!verifies(ctx.crypto, signed, signer, keyId, key)) {
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
  const crossSigning = await crossSigningKeys(ctx.db, signer);
  const bySigningKey = (usage: CrossSigningUsage) => (keyId: string) => {
    const key = crossSigning.find((k) => k.usage === usage);
    return key !== undefined && keyId === `ed25519:${key.publicKey}` ? ed25519Key(key.publicKey) : undefined;
  };
  const master =
    userIdServerName(targetUser) === ctx.config.serverName
      ? await crossSigningKey(ctx.db, targetUser, "master")
      : await remoteMasterKey(ctx, signer, targetUser);
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
 * A user of another server's master key, as their server serves it (checked there and here):
 * signing it with our user-signing key is how a local user verifies them; the signature stays on
 * this server and is shown to the signer alone.
 */
async function remoteMasterKey(
  ctx: ServerContext,
  signer: string,
  userId: string,
): Promise<{ publicKey: string; json: JsonObject } | undefined> {
  const answer = await queryKeys(ctx, signer, { [userId]: [] }, DEFAULT_KEYS_TIMEOUT_MS);
  const json = answer.master_keys[userId];
  if (json === undefined) {
    throw new SignatureRefusal(
      "M_NOT_FOUND",
      answer.failures[userIdServerName(userId) ?? ""]
        ? "The user's server could not be reached"
        : "Unknown user",
    );
  }
  const publicKey = Object.values((json.keys ?? {}) as Record<string, string>)[0];
  return publicKey === undefined ? undefined : { publicKey, json };
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
  const failures: SignatureFailures = keyedRecord();
  const accepted: NewSignature[] = [];
  for (const [targetUser, byKey] of Object.entries(body)) {
    if (!isJsonObject(byKey)) throw badJson(`${targetUser} must map key IDs to signed objects`);
    for (const [targetKey, signed] of Object.entries(byKey)) {
      try {
        accepted.push(...(await checkSignature(ctx, session.userId, targetUser, targetKey, signed)));
      } catch (error) {
        if (!(error instanceof SignatureRefusal || error instanceof MatrixError)) throw error;
        failures[targetUser] ??= keyedRecord();
        failures[targetUser][targetKey] = { errcode: error.errcode, error: error.message };
      }
    }
  }
  if (accepted.length === 0) return failures;
  const ownKeys = new Set(accepted.filter((s) => s.onlyFor === null).map((s) => s.targetKey));
  const othersSigned = new Set(accepted.filter((s) => s.onlyFor !== null).map((s) => s.targetUser));
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
    // A signature on the signer's own device or master key is news for everyone sharing a room
    // with them, here and on other servers; each signed device is its own m.device_list_update.
    for (const targetKey of ownKeys) {
      const streamId = await markDeviceListChanged(tx, session.userId);
      const keys = await federatedDeviceKeys(tx, session.userId, targetKey);
      if (keys !== undefined) {
        await announceDeviceChange(tx, ctx, { userId: session.userId, deviceId: targetKey, streamId, keys });
      } else {
        await announceSigningKeys(tx, ctx, session.userId, await federatedSigningKeys(tx, session.userId));
      }
    }
    for (const targetUser of othersSigned) await markDeviceListChanged(tx, targetUser, session.userId);
  });
  if (ownKeys.size > 0) await wakeForDeviceListChange(ctx, session.userId);
  if (othersSigned.size > 0) ctx.notifier.wake([session.userId]);
  return failures;
}
