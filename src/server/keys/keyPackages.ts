// MLS algorithms, credentials and key packages as the key endpoints see them (sections 2, 9, 10).
// A key package is checked before it is stored, so a claimer never receives bytes that are not a
// usable KeyPackage of the ciphersuite its key ID names, made by the device that uploaded it.
import {
  ciphersuites,
  defaultCredentialTypes,
  getCiphersuiteImpl,
  makeKeyPackageRef,
  protocolVersions,
  wireformats,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type KeyPackage,
  type MlsMessage,
} from "ts-mls";
import { decodeMlsMessage, MlsFramingError } from "../../protocol/mlsFraming.js";
import { CredentialError, decodeCredential, decodeIdentity } from "../../protocol/credential.js";
import { concatBytes, encodeVector } from "../../protocol/tlsVector.js";
import { Base64Error, decodeBase64Lenient } from "../../protocol/base64.js";
import { STABLE_NAMES, UNSTABLE_NAMES } from "../../protocol/names.js";
import { badJson, type KeyError } from "./keyErrors.js";
import { equalBytes } from "../../protocol/bytes.js";

export interface MlsAlgorithm {
  /** `de.bwi.mls.v1.` or `m.mls.v1.` */
  readonly prefix: string;
  readonly ciphersuite: CiphersuiteName;
}

const PREFIXES = [UNSTABLE_NAMES.prefix, STABLE_NAMES.prefix];

/** True for every name in an MLS prefix, known ciphersuite or not. */
export function hasMlsPrefix(algorithm: string): boolean {
  return PREFIXES.some((prefix) => algorithm.startsWith(prefix));
}

/** The prefix and ciphersuite of an MLS algorithm name, or undefined for any other name. */
export function parseMlsAlgorithm(algorithm: string): MlsAlgorithm | undefined {
  const prefix = PREFIXES.find((p) => algorithm.startsWith(p));
  if (prefix === undefined) return undefined;
  const name = algorithm.slice(prefix.length);
  return Object.hasOwn(ciphersuites, name) ? { prefix, ciphersuite: name as CiphersuiteName } : undefined;
}

/**
 * D17: the names under which a key of `algorithm` may be stored. An MLS algorithm is answered
 * from either prefix (the same key package serves rooms of both versions); others only by name.
 */
export function claimableAlgorithms(algorithm: string): string[] {
  const mls = parseMlsAlgorithm(algorithm);
  return mls === undefined ? [algorithm] : PREFIXES.map((prefix) => prefix + mls.ciphersuite);
}

// Building a ciphersuite implementation is slow (WebCrypto imports): one per suite per process.
const impls = new Map<CiphersuiteName, Promise<CiphersuiteImpl>>();

function ciphersuiteImpl(name: CiphersuiteName): Promise<CiphersuiteImpl> {
  let impl = impls.get(name);
  if (impl === undefined) {
    impl = getCiphersuiteImpl(name);
    impls.set(name, impl);
  }
  return impl;
}

export interface MlsIdentity {
  readonly userId: string;
  readonly deviceId: string;
  readonly signatureKey: Uint8Array;
}

/** Section 9 identity of a device, read from its credential's identity bytes. */
export function readMlsIdentity(identity: Uint8Array): MlsIdentity {
  try {
    const decoded = decodeIdentity(identity);
    return { userId: decoded.userId, deviceId: decoded.deviceId, signatureKey: decoded.signaturePublicKey };
  } catch (error) {
    if (!(error instanceof CredentialError)) throw error;
    throw new MlsCheckError(`credential identity is not user_id, device_id, key: ${error.message}`);
  }
}

/** D18: the serialized Credential in the device keys: type 1 (basic), then the identity vector. */
export function readBasicCredential(bytes: Uint8Array): MlsIdentity {
  try {
    const decoded = decodeCredential(bytes);
    return { userId: decoded.userId, deviceId: decoded.deviceId, signatureKey: decoded.signaturePublicKey };
  } catch (error) {
    if (!(error instanceof CredentialError)) throw error;
    throw new MlsCheckError(`credential is malformed: ${error.message}`);
  }
}

/** A reason to refuse MLS data, before anything is stored. */
export class MlsCheckError extends Error {
  override readonly name = "MlsCheckError";
}

function decodeBinary(text: string, what: string): Uint8Array {
  try {
    return decodeBase64Lenient(text);
  } catch (error) {
    if (error instanceof Base64Error) throw new MlsCheckError(`${what} is not base64 (D5)`);
    throw error;
  }
}

// RFC 9420 section 5.1.2 SignWithLabel content: the label and the signed bytes as vectors.
function signContent(label: string, content: Uint8Array): Uint8Array {
  return concatBytes([encodeVector(new TextEncoder().encode(`MLS 1.0 ${label}`)), encodeVector(content)]);
}

export interface KeyPackageOwner {
  readonly userId: string;
  readonly deviceId: string;
  /** Now, in milliseconds. */
  readonly now: number;
}

/**
 * D20: checks one uploaded MLS key: `<algorithm>:<KeyPackageRef>` whose value is base64 of an
 * MLSMessage (wire format mls_key_package, nothing after it) holding a KeyPackage of the
 * algorithm's ciphersuite, whose reference is the key ID's, signed by the key in its own leaf,
 * with a section 9 credential naming the uploading device, and not expired. Returns the
 * MLSMessage bytes; throws MlsCheckError.
 */
export async function checkKeyPackage(
  algorithm: MlsAlgorithm,
  ref: string,
  value: unknown,
  owner: KeyPackageOwner,
): Promise<Uint8Array> {
  if (typeof value !== "string") throw new MlsCheckError("an MLS key package must be a base64 string (D20)");
  const bytes = decodeBinary(value, "key package");
  const refBytes = decodeBinary(ref, "key package reference");
  let message: MlsMessage;
  try {
    message = decodeMlsMessage(bytes);
  } catch (error) {
    if (!(error instanceof MlsFramingError)) throw error;
    throw new MlsCheckError(error.message);
  }
  if (message.wireformat !== wireformats.mls_key_package) {
    throw new MlsCheckError(`MLSMessage has wire format ${message.wireformat}, not mls_key_package (D20)`);
  }
  if (message.version !== protocolVersions.mls10) throw new MlsCheckError("MLSMessage is not MLS 1.0");
  const keyPackage: KeyPackage = message.keyPackage;
  const suiteId = ciphersuites[algorithm.ciphersuite];
  if (keyPackage.cipherSuite !== suiteId) {
    throw new MlsCheckError(
      `key package has ciphersuite ${keyPackage.cipherSuite}, not ${algorithm.ciphersuite}`,
    );
  }
  if (keyPackage.version !== protocolVersions.mls10) throw new MlsCheckError("key package is not MLS 1.0");

  let impl: CiphersuiteImpl;
  try {
    impl = await ciphersuiteImpl(algorithm.ciphersuite);
  } catch {
    throw new MlsCheckError(`ciphersuite ${algorithm.ciphersuite} is not supported by this server`);
  }
  if (!equalBytes(await makeKeyPackageRef(keyPackage, impl.hash), refBytes)) {
    throw new MlsCheckError("key ID is not the key package's KeyPackageRef (D20)");
  }

  // The signed part is the KeyPackage without its trailing signature vector (RFC 9420 10).
  const tbs = bytes.subarray(4, bytes.length - encodeVector(keyPackage.signature).length);
  const leaf = keyPackage.leafNode;
  if (
    !(await impl.signature.verify(
      leaf.signaturePublicKey,
      signContent("KeyPackageTBS", tbs),
      keyPackage.signature,
    ))
  ) {
    throw new MlsCheckError("key package signature does not verify");
  }

  const credential = leaf.credential;
  if (credential.credentialType !== defaultCredentialTypes.basic || !("identity" in credential)) {
    throw new MlsCheckError("key package credential is not a basic credential (section 9)");
  }
  const identity = readMlsIdentity(credential.identity);
  if (identity.userId !== owner.userId || identity.deviceId !== owner.deviceId) {
    throw new MlsCheckError("key package credential names another device (section 9)");
  }
  if (!equalBytes(identity.signatureKey, leaf.signaturePublicKey)) {
    throw new MlsCheckError("key package credential's key is not its leaf's signature key (section 9)");
  }
  if (leaf.lifetime.notAfter < BigInt(Math.floor(owner.now / 1000))) {
    throw new MlsCheckError("key package has expired");
  }
  return bytes;
}

/** The M_BAD_JSON refusal for an MLS key that failed its checks; it names the key ID. */
export function invalidMlsKey(keyId: string, error: MlsCheckError): KeyError {
  return badJson(`Invalid MLS key ${keyId}: ${error.message}`);
}
