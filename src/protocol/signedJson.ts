// Matrix JSON signing (spec appendix "Signing JSON"): Ed25519 over the canonical JSON of the
// object without `signatures` and `unsigned`, which later parties may extend.
import { decodeBase64Unpadded, encodeBase64, Base64Error } from "./base64.js";
import { canonicalJsonBytes } from "./canonicalJson.js";
import type { Ed25519Signer, ProtocolCrypto } from "./crypto.js";

export type Signatures = Record<string, Record<string, string>>;

export class SignedJsonError extends Error {
  override readonly name = "SignedJsonError";
}

/**
 * Returns a copy of `value` whose `signatures[signingName][signer.keyId]` is the signer's
 * signature; signatures already present are kept. Does not mutate `value`.
 * Throws CanonicalJsonError if `value` is not canonical-JSON data, SignedJsonError if its
 * existing `signatures` is not an object of objects.
 */
export function signJson<T extends object>(
  value: T,
  signingName: string,
  signer: Ed25519Signer,
): T & { signatures: Signatures } {
  const given = (value as { signatures?: unknown }).signatures;
  const existing = given === undefined ? {} : given;
  if (!isRecord(existing)) throw new SignedJsonError("signatures must be an object");
  const ours = Object.hasOwn(existing, signingName) ? existing[signingName] : {};
  if (!isRecord(ours)) throw new SignedJsonError(`signatures.${signingName} must be an object`);
  const signature = encodeBase64(signer.sign(canonicalJsonBytes(signedPart(value))));
  const signatures = { ...existing, [signingName]: { ...ours, [signer.keyId]: signature } } as Signatures;
  return { ...value, signatures };
}

/**
 * True when `value` carries a valid signature by `signingName` under `keyId` for `publicKey`.
 * False, never an exception, when that signature is missing, not a string, not unpadded standard
 * base64, or wrong. The algorithm is always Ed25519 whatever the key ID's prefix: D19 signs
 * device keys with the MLS signature key under a `<prefix>basic:<device_id>` key ID.
 * Throws CanonicalJsonError if the rest of `value` is not canonical-JSON data (a shape error).
 */
export function verifyJsonSignature(
  value: object,
  signingName: string,
  keyId: string,
  publicKey: Uint8Array,
  crypto: ProtocolCrypto,
): boolean {
  const signatureText = ownProperty(ownProperty(ownProperty(value, "signatures"), signingName), keyId);
  if (typeof signatureText !== "string") return false;
  let signature: Uint8Array;
  try {
    signature = decodeBase64Unpadded(signatureText);
  } catch (error) {
    if (error instanceof Base64Error) return false;
    throw error;
  }
  return crypto.ed25519Verify(publicKey, canonicalJsonBytes(signedPart(value)), signature);
}

function signedPart(value: object): Record<string, unknown> {
  const { signatures: _signatures, unsigned: _unsigned, ...rest } = value as Record<string, unknown>;
  return rest;
}

// Own properties only: a signing name such as "constructor" must not find Object.prototype's.
function ownProperty(container: unknown, key: string): unknown {
  return isRecord(container) && Object.hasOwn(container, key) ? container[key] : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
