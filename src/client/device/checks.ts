// Small checks the device modules share when they read what the homeserver returns: nothing
// from it is trusted until its shape and signatures are checked here, on the client.
import { nobleCrypto } from "../../protocol/nobleCrypto.js";
import { verifyJsonSignature } from "../../protocol/signedJson.js";

/** True when `value` carries a valid signature; false also when it is not canonical JSON. */
export function signedBy(value: object, userId: string, keyId: string, publicKey: Uint8Array): boolean {
  try {
    return verifyJsonSignature(value, userId, keyId, publicKey, nobleCrypto);
  } catch {
    return false;
  }
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
