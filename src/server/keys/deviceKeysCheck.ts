// The checks device keys pass, whether a local device uploads them or another server answers a
// query with them: they name their user and device, and an MLS credential among them (D18) is a
// basic credential naming that device whose key signed them (D19).
import { decodeBase64Lenient } from "../../protocol/base64.js";
import type { ProtocolCrypto } from "../../protocol/crypto.js";
import { STABLE_NAMES, UNSTABLE_NAMES } from "../../protocol/names.js";
import { badJson, invalidParam, invalidSignature } from "./keyErrors.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { isSignatures, isStringMap, signedPartJson, verifies } from "./keyJson.js";
import { hasMlsPrefix, readBasicCredential, type MlsIdentity } from "./keyPackages.js";

/** `<algorithm>:<key_id>` split at its first colon; M_BAD_JSON when either part is empty. */
export function splitKeyId(fullId: string): [string, string] {
  const colon = fullId.indexOf(":");
  if (colon <= 0 || colon === fullId.length - 1)
    throw badJson(`Key ID ${fullId} is not <algorithm>:<key_id>`);
  return [fullId.slice(0, colon), fullId.slice(colon + 1)];
}

const MLS_CREDENTIAL_KEYS = [UNSTABLE_NAMES.prefix + "basic", STABLE_NAMES.prefix + "basic"];

/**
 * Checks device keys of `userId`'s device `deviceId`; returns them without `unsigned`. Throws
 * KeyError: M_INVALID_PARAM for another user or device, M_BAD_JSON for a wrong shape or
 * credential, M_INVALID_SIGNATURE when the D19 signature is missing or wrong.
 */
export function checkDeviceKeys(
  crypto: ProtocolCrypto,
  userId: string,
  deviceId: string,
  deviceKeys: unknown,
): JsonObject {
  if (!isJsonObject(deviceKeys)) throw badJson("device_keys must be an object");
  if (deviceKeys.user_id !== userId) throw invalidParam(`device_keys.user_id is not ${userId}`);
  if (deviceKeys.device_id !== deviceId) throw invalidParam(`device_keys.device_id is not ${deviceId}`);
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
    if (device !== deviceId) throw badJson(`device_keys.keys.${keyId} names another device`);
    let identity: MlsIdentity;
    try {
      identity = readBasicCredential(decodeBase64Lenient(value));
    } catch (error) {
      throw badJson(
        `device_keys.keys.${keyId} is not an MLS basic credential (D18): ${(error as Error).message}`,
      );
    }
    if (identity.userId !== userId || identity.deviceId !== deviceId) {
      throw badJson(`device_keys.keys.${keyId}: the credential names another device (section 9)`);
    }
    if (!verifies(crypto, stored, userId, keyId, identity.signatureKey)) {
      throw invalidSignature(`device_keys lack a valid signature by ${keyId} (D19)`);
    }
  }
  return stored;
}
