// Section 9 credential identity and the D18 serialized Credential. Decoders are strict: the
// identity is what other devices verify a user and device against, so it has one encoding only.
import { TlsVectorError, concatBytes, encodeVector, readVector } from "./tlsVector.js";

export interface DeviceIdentity {
  readonly userId: string;
  readonly deviceId: string;
  /** The device's MLS signature public key. */
  readonly signaturePublicKey: Uint8Array;
}

export class CredentialError extends Error {
  override readonly name = "CredentialError";
}

/** RFC 9420 credential type of a basic credential. */
export const BASIC_CREDENTIAL_TYPE = 1;

const LONE_SURROGATE = /\p{Surrogate}/u;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Section 9: user_id, device_id (UTF-8) and the signature public key, each a vector. */
export function encodeIdentity(identity: DeviceIdentity): Uint8Array {
  return concatBytes([
    encodeVector(utf8Bytes(identity.userId, "user_id")),
    encodeVector(utf8Bytes(identity.deviceId, "device_id")),
    encodeVector(identity.signaturePublicKey),
  ]);
}

export function decodeIdentity(bytes: Uint8Array): DeviceIdentity {
  return wrapVectorErrors(() => {
    const [userId, afterUser] = readVector(bytes, 0);
    const [deviceId, afterDevice] = readVector(bytes, afterUser);
    const [signaturePublicKey, end] = readVector(bytes, afterDevice);
    if (end !== bytes.length)
      throw new CredentialError(`${bytes.length - end} trailing bytes after the identity`);
    return {
      userId: utf8Text(userId, "user_id"),
      deviceId: utf8Text(deviceId, "device_id"),
      signaturePublicKey,
    };
  });
}

/** D18: the serialized RFC 9420 Credential (uint16 type 1, basic, then the identity vector). */
export function encodeCredential(identity: DeviceIdentity): Uint8Array {
  return concatBytes([new Uint8Array([0, BASIC_CREDENTIAL_TYPE]), encodeVector(encodeIdentity(identity))]);
}

export function decodeCredential(bytes: Uint8Array): DeviceIdentity {
  return wrapVectorErrors(() => {
    if (bytes.length < 2) throw new CredentialError("credential shorter than its type");
    const type = ((bytes[0] as number) << 8) | (bytes[1] as number);
    if (type !== BASIC_CREDENTIAL_TYPE) throw new CredentialError(`credential type ${type} is not basic (1)`);
    const [identity, end] = readVector(bytes, 2);
    if (end !== bytes.length)
      throw new CredentialError(`${bytes.length - end} trailing bytes after the credential`);
    return decodeIdentity(identity);
  });
}

function utf8Bytes(text: string, field: string): Uint8Array {
  // TextEncoder would silently turn a lone surrogate into U+FFFD: a different identity.
  if (LONE_SURROGATE.test(text)) throw new CredentialError(`${field} has a lone surrogate`);
  return utf8.encode(text);
}

function utf8Text(bytes: Uint8Array, field: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new CredentialError(`${field} is not valid UTF-8`);
  }
}

function wrapVectorErrors<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof TlsVectorError) throw new CredentialError(error.message);
    throw error;
  }
}
