// Content hash, reference hash and event ID (section 3, as in room versions 4 and later).
import { encodeBase64, encodeBase64Url } from "../base64.js";
import { canonicalJsonBytes } from "../canonicalJson.js";
import type { ProtocolCrypto } from "../crypto.js";
import { redactPdu } from "./redact.js";

function without(value: object, keys: readonly string[]): Record<string, unknown> {
  const copy: Record<string, unknown> = { ...value };
  for (const key of keys) delete copy[key];
  return copy;
}

/** Unpadded standard base64 of SHA-256 over the event without `unsigned`, `signatures`, `hashes`. */
export function computeContentHash(event: object, crypto: ProtocolCrypto): string {
  return encodeBase64(
    crypto.sha256(canonicalJsonBytes(without(event, ["unsigned", "signatures", "hashes"]))),
  );
}

/**
 * The bytes both the reference hash and the origin's signature cover: canonical JSON of the
 * redacted event without `signatures` (redaction already drops `unsigned`).
 */
export function redactedSigningBytes(event: object): Uint8Array {
  return canonicalJsonBytes(without(redactPdu(event), ["signatures"]));
}

/** `$` + unpadded URL-safe base64 of the reference hash. */
export function eventIdFromSigningBytes(signingBytes: Uint8Array, crypto: ProtocolCrypto): string {
  return "$" + encodeBase64Url(crypto.sha256(signingBytes));
}

export function computeEventId(event: object, crypto: ProtocolCrypto): string {
  return eventIdFromSigningBytes(redactedSigningBytes(event), crypto);
}
