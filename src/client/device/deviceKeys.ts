// A device's keys as section 9 uploads them: the D18 credential under `<prefix>basic:<device>`,
// signed (D19) by the device's MLS signature key, and the check every other device runs on them.
import { ed25519 } from "@noble/curves/ed25519.js";
import { Base64Error, decodeBase64Lenient, encodeBase64Url } from "../../protocol/base64.js";
import {
  CredentialError,
  decodeCredential,
  encodeCredential,
  type DeviceIdentity,
} from "../../protocol/credential.js";
import { MANDATORY_CIPHERSUITE, STABLE_NAMES, UNSTABLE_NAMES } from "../../protocol/names.js";
import { nobleSigner } from "../../protocol/nobleCrypto.js";
import { signJson } from "../../protocol/signedJson.js";
import type { SignatureKeyPair } from "../mls/engine.js";
import { equalBytes } from "../../protocol/bytes.js";
import { isRecord, signedBy } from "./checks.js";
import { DeviceTrustError } from "./errors.js";

/** Device keys as `/keys/upload` takes them and `/keys/query` returns them (with `unsigned`). */
export interface SignedDeviceKeys {
  readonly user_id: string;
  readonly device_id: string;
  readonly algorithms: readonly string[];
  readonly keys: Readonly<Record<string, string>>;
  readonly signatures: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly unsigned?: Readonly<Record<string, unknown>>;
}

/** A device whose keys passed verifyDeviceKeys: who it is and the MLS key that speaks for it. */
export interface DeviceIdentityInfo extends DeviceIdentity {
  /** The key ID of its credential and D19 signature, `<prefix>basic:<device_id>`. */
  readonly keyId: string;
  readonly deviceKeys: SignedDeviceKeys;
}

/** D17: readers accept either prefix; the unstable one first, as devices upload it. */
const MLS_PREFIXES = [UNSTABLE_NAMES.prefix, STABLE_NAMES.prefix];

/** The D18 credential's key ID under a prefix (section 9). */
export function credentialKeyId(deviceId: string, prefix = UNSTABLE_NAMES.prefix): string {
  return `${prefix}basic:${deviceId}`;
}

/** Section 9, D17-D19: this device's keys, uploaded under the unstable prefix only (D17). */
export function buildDeviceKeys(params: {
  userId: string;
  deviceId: string;
  signatureKeyPair: SignatureKeyPair;
}): SignedDeviceKeys {
  const { userId, deviceId, signatureKeyPair } = params;
  const keyId = credentialKeyId(deviceId);
  const credential = encodeCredential({ userId, deviceId, signaturePublicKey: signatureKeyPair.publicKey });
  const unsignedKeys = {
    user_id: userId,
    device_id: deviceId,
    algorithms: [UNSTABLE_NAMES.prefix + MANDATORY_CIPHERSUITE],
    keys: { [keyId]: encodeBase64Url(credential) },
  };
  return signJson(unsignedKeys, userId, nobleSigner(keyId, ed25519Seed(signatureKeyPair)));
}

/**
 * The device's identity when `keys` are a valid section-9 MLS device of `userId`/`deviceId`:
 * the right shape, an MLS algorithm listed, and every `<prefix>basic:<device>` key (either
 * prefix, D17) a D18 credential naming this user and device, whose key made the D19 signature.
 * Undefined for anything else: callers treat such a device as no MLS device at all.
 */
export function verifyDeviceKeys(
  keys: unknown,
  userId: string,
  deviceId: string,
): DeviceIdentityInfo | undefined {
  if (!isRecord(keys) || keys.user_id !== userId || keys.device_id !== deviceId) return undefined;
  const { algorithms, keys: keyMap } = keys;
  if (!Array.isArray(algorithms) || !algorithms.every((a) => typeof a === "string")) return undefined;
  if (!algorithms.some((a: string) => MLS_PREFIXES.some((prefix) => a.startsWith(prefix)))) return undefined;
  if (!isRecord(keyMap) || !Object.values(keyMap).every((v) => typeof v === "string")) return undefined;
  const present = MLS_PREFIXES.map((prefix) => credentialKeyId(deviceId, prefix)).filter((id) =>
    Object.hasOwn(keyMap, id),
  );
  let found: DeviceIdentityInfo | undefined;
  for (const keyId of present) {
    const identity = credentialIdentity(keyMap[keyId] as string);
    if (identity === undefined || identity.userId !== userId || identity.deviceId !== deviceId)
      return undefined;
    if (!signedBy(keys, userId, keyId, identity.signaturePublicKey)) return undefined;
    // Two credentials for one device must agree on its key, or nobody can tell which speaks for it.
    if (found !== undefined && !equalBytes(found.signaturePublicKey, identity.signaturePublicKey))
      return undefined;
    found ??= { ...identity, keyId, deviceKeys: keys as unknown as SignedDeviceKeys };
  }
  return found;
}

// ts-mls returns its Ed25519 signKey as PKCS#8 DER (RFC 8410) when WebCrypto has Ed25519 (Node
// 20, current browsers) and as the raw 32-byte seed otherwise; @noble signs with the seed.
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);

/** The 32-byte Ed25519 seed of an MLS signature key pair, checked against its public key. */
export function ed25519Seed(pair: SignatureKeyPair): Uint8Array {
  const { signKey } = pair;
  const seed =
    signKey.length === 32
      ? signKey
      : signKey.length === PKCS8_ED25519_PREFIX.length + 32 &&
          equalBytes(signKey.subarray(0, PKCS8_ED25519_PREFIX.length), PKCS8_ED25519_PREFIX)
        ? signKey.subarray(PKCS8_ED25519_PREFIX.length)
        : undefined;
  if (seed === undefined || !equalBytes(ed25519.getPublicKey(seed), pair.publicKey)) {
    throw new DeviceTrustError(
      "invalid-signature-key",
      "The device's MLS signature key is not an Ed25519 key pair of ciphersuite 1",
    );
  }
  return seed;
}

function credentialIdentity(value: string): DeviceIdentity | undefined {
  try {
    return decodeCredential(decodeBase64Lenient(value));
  } catch (error) {
    if (error instanceof CredentialError || error instanceof Base64Error) return undefined;
    throw error;
  }
}
