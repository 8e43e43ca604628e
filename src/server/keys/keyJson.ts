// Signed JSON objects as the key endpoints handle them (device keys, cross-signing keys): shape
// checks, their signed part, signature checks, and the signatures uploaded for them separately.
import { decodeBase64Unpadded } from "../../protocol/base64.js";
import { canonicalJson } from "../../protocol/canonicalJson.js";
import type { ProtocolCrypto } from "../../protocol/crypto.js";
import { verifyJsonSignature } from "../../protocol/signedJson.js";
import { badJson } from "./keyErrors.js";
import { isJsonObject, type JsonObject } from "../json.js";
import { keyedRecord } from "../keyedRecord.js";
import type { SignatureRow } from "./keyStore.js";

export function isStringMap(value: unknown): value is Record<string, string> {
  return isJsonObject(value) && Object.values(value).every((v) => typeof v === "string");
}

export function isSignatures(value: unknown): value is Record<string, Record<string, string>> {
  return isJsonObject(value) && Object.values(value).every(isStringMap);
}

/** The signed part of a signed JSON object, as canonical JSON; M_BAD_JSON if it has none. */
export function signedPartJson(value: JsonObject, what: string): string {
  const { signatures: _signatures, unsigned: _unsigned, ...rest } = value;
  try {
    return canonicalJson(rest);
  } catch (error) {
    throw badJson(`${what} is not canonical JSON: ${(error as Error).message}`);
  }
}

/** True when `value` carries a valid signature of `signer` under `keyId`; never throws. */
export function verifies(
  crypto: ProtocolCrypto,
  value: JsonObject,
  signer: string,
  keyId: string,
  key: Uint8Array,
): boolean {
  try {
    return verifyJsonSignature(value, signer, keyId, key, crypto);
  } catch {
    return false;
  }
}

/** An unpadded base64 Ed25519 public key's bytes, or undefined when it is not one. */
export function ed25519Key(publicKey: string): Uint8Array | undefined {
  try {
    const bytes = decodeBase64Unpadded(publicKey);
    return bytes.length === 32 ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** `value` with the uploaded signatures in `rows` added to its own. */
export function withSignatures(value: JsonObject, rows: readonly SignatureRow[]): JsonObject {
  if (rows.length === 0) return value;
  const signatures: Record<string, Record<string, string>> = keyedRecord();
  for (const [signer, byKey] of Object.entries(
    (value.signatures ?? {}) as Record<string, Record<string, string>>,
  )) {
    signatures[signer] = Object.assign(keyedRecord<string>(), byKey);
  }
  for (const row of rows) {
    signatures[row.signer_user_id] ??= keyedRecord();
    signatures[row.signer_user_id]![row.signer_key_id] = row.signature;
  }
  return { ...value, signatures };
}
