// Matrix cross-signing (client-server spec "Cross-signing") as section 9 uses it: "device keys are
// cross-signed as usual". The master key signs the self-signing key (which signs the user's own
// devices) and the user-signing key (which signs other users' master keys).
import { ed25519 } from "@noble/curves/ed25519.js";
import { Base64Error, decodeBase64Unpadded, encodeBase64 } from "../../protocol/base64.js";
import { nobleSigner } from "../../protocol/nobleCrypto.js";
import { signJson } from "../../protocol/signedJson.js";
import { MatrixApiError, type MatrixHttp } from "../http/matrixHttp.js";
import { decodeSignatureFailures, ignoreBody } from "../wire/replies.js";
import { isRecord } from "./checks.js";
import type { SignedDeviceKeys } from "./deviceKeys.js";
import { DeviceTrustError } from "./errors.js";

/** An Ed25519 key pair: the private 32-byte seed and the public key as Matrix writes it. */
export interface Ed25519Key {
  readonly seed: Uint8Array;
  /** Unpadded standard base64; the key's ID is `ed25519:<publicKey>`. */
  readonly publicKey: string;
}

export interface CrossSigningKeys {
  readonly master: Ed25519Key;
  readonly selfSigning: Ed25519Key;
  readonly userSigning: Ed25519Key;
}

export type CrossSigningUsage = "master" | "self_signing" | "user_signing";

/** A cross-signing key as `/keys/query` returns it, shape-checked. Its signatures are not checked. */
export interface PublicCrossSigningKey {
  readonly userId: string;
  /** Unpadded standard base64. */
  readonly publicKey: string;
  readonly publicBytes: Uint8Array;
  /** `ed25519:<publicKey>`, the key ID it signs under. */
  readonly keyId: string;
  /** The key object as the homeserver served it. */
  readonly json: Readonly<Record<string, unknown>>;
}

export function ed25519KeyFromSeed(seed: Uint8Array): Ed25519Key {
  return { seed, publicKey: encodeBase64(ed25519.getPublicKey(seed)) };
}

export function newCrossSigningKeys(): CrossSigningKeys {
  const fresh = () => ed25519KeyFromSeed(ed25519.utils.randomSecretKey());
  return { master: fresh(), selfSigning: fresh(), userSigning: fresh() };
}

/** The body of `/keys/device_signing/upload`: the master key signs the other two. */
export function crossSigningUploadBody(userId: string, keys: CrossSigningKeys): Record<string, object> {
  const keyObject = (usage: CrossSigningUsage, key: Ed25519Key) => ({
    user_id: userId,
    usage: [usage],
    keys: { [`ed25519:${key.publicKey}`]: key.publicKey },
  });
  const master = signerOf(keys.master);
  return {
    master_key: keyObject("master", keys.master),
    self_signing_key: signJson(keyObject("self_signing", keys.selfSigning), userId, master),
    user_signing_key: signJson(keyObject("user_signing", keys.userSigning), userId, master),
  };
}

/**
 * Uploads the user's cross-signing keys. The first upload needs no authentication; replacing a
 * master key does: the homeserver answers 401 (user-interactive auth) and the upload is retried
 * with `m.login.password` and `password`.
 */
export async function uploadCrossSigningKeys(
  http: MatrixHttp,
  userId: string,
  keys: CrossSigningKeys,
  password?: string,
): Promise<void> {
  const body = crossSigningUploadBody(userId, keys);
  try {
    await http.request("POST", "/keys/device_signing/upload", ignoreBody, { body });
    return;
  } catch (error) {
    if (!isAuthChallenge(error)) throw error;
    if (password === undefined) {
      throw new DeviceTrustError(
        "password-required",
        "Your account already has cross-signing keys; replacing them needs your account password",
      );
    }
    const session = typeof error.body.session === "string" ? error.body.session : undefined;
    const auth = {
      type: "m.login.password",
      identifier: { type: "m.id.user", user: userId },
      password,
      ...(session === undefined ? {} : { session }),
    };
    try {
      await http.request("POST", "/keys/device_signing/upload", ignoreBody, { body: { ...body, auth } });
    } catch (retryError) {
      if (!isAuthChallenge(retryError)) throw retryError;
      throw new DeviceTrustError(
        "password-rejected",
        `The homeserver did not accept the password for replacing your cross-signing keys (${retryError.message}); check it and try again`,
      );
    }
  }
}

/** Our self-signing key signs one of our devices (its section-9 device keys). */
export async function signOwnDevice(
  http: MatrixHttp,
  userId: string,
  keys: CrossSigningKeys,
  deviceKeys: SignedDeviceKeys,
): Promise<void> {
  const { unsigned: _unsigned, ...stored } = deviceKeys;
  const signed = signJson(stored, userId, signerOf(keys.selfSigning));
  await uploadSignatures(http, { [userId]: { [deviceKeys.device_id]: signed } });
}

/** Our user-signing key signs another user's master key (as `/keys/query` returned it). */
export async function signUserMasterKey(
  http: MatrixHttp,
  ourUserId: string,
  keys: CrossSigningKeys,
  theirMasterKey: object,
): Promise<void> {
  const owner = isRecord(theirMasterKey) ? theirMasterKey.user_id : undefined;
  const master = typeof owner === "string" ? readCrossSigningKey(theirMasterKey, owner, "master") : undefined;
  if (master === undefined) {
    throw new DeviceTrustError("no-master-key", "The homeserver served no valid master key for that user");
  }
  const { unsigned: _unsigned, ...stored } = master.json;
  const signed = signJson(stored, ourUserId, signerOf(keys.userSigning));
  await uploadSignatures(http, { [master.userId]: { [master.publicKey]: signed } });
}

/** Human-comparable form of a master key: its base64 in groups of four characters. */
export function fingerprint(masterKeyPublicBase64: string): string {
  return (masterKeyPublicBase64.match(/.{1,4}/g) ?? []).join(" ");
}

/**
 * `value` when it is `userId`'s cross-signing key for `usage`: that owner, that usage, and
 * exactly one key `{"ed25519:<key>": "<key>"}` holding a 32-byte Ed25519 public key.
 */
export function readCrossSigningKey(
  value: unknown,
  userId: string,
  usage: CrossSigningUsage,
): PublicCrossSigningKey | undefined {
  if (!isRecord(value) || value.user_id !== userId) return undefined;
  if (!Array.isArray(value.usage) || !value.usage.includes(usage)) return undefined;
  if (!isRecord(value.keys)) return undefined;
  const entries = Object.entries(value.keys);
  if (entries.length !== 1) return undefined;
  const [keyId, publicKey] = entries[0] as [string, unknown];
  if (typeof publicKey !== "string" || keyId !== `ed25519:${publicKey}`) return undefined;
  let publicBytes: Uint8Array;
  try {
    publicBytes = decodeBase64Unpadded(publicKey);
  } catch (error) {
    if (error instanceof Base64Error) return undefined;
    throw error;
  }
  if (publicBytes.length !== 32) return undefined;
  return { userId, publicKey, publicBytes, keyId, json: value };
}

function signerOf(key: Ed25519Key) {
  return nobleSigner(`ed25519:${key.publicKey}`, key.seed);
}

async function uploadSignatures(
  http: MatrixHttp,
  body: Record<string, Record<string, object>>,
): Promise<void> {
  const failures = await http.request("POST", "/keys/signatures/upload", decodeSignatureFailures, { body });
  for (const [user, byKey] of failures) {
    for (const [key, failure] of byKey) {
      const errcode = typeof failure.errcode === "string" ? failure.errcode : "M_UNKNOWN";
      const reason = typeof failure.error === "string" ? failure.error : "";
      throw new DeviceTrustError(
        "signature-refused",
        `The homeserver refused the signature on ${user} ${key}: ${errcode} ${reason}`.trim(),
      );
    }
  }
}

/** A 401 that is a user-interactive auth challenge (it names flows), not a bad access token. */
function isAuthChallenge(error: unknown): error is MatrixApiError {
  return error instanceof MatrixApiError && error.status === 401 && Array.isArray(error.body.flows);
}
