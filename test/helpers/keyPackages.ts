// Test helper: MLS devices as section 9 defines them, with real credentials, signed device keys
// (D18, D19) and KeyPackages made by ts-mls, plus plain Ed25519 signing keys for cross-signing.
import { ed25519 } from "@noble/curves/ed25519.js";
import {
  defaultCredentialTypes,
  encode,
  generateKeyPackageWithKey,
  getCiphersuiteImpl,
  makeCustomExtension,
  makeKeyPackageRef,
  mlsMessageEncoder,
  protocolVersions,
  wireformats,
  type CiphersuiteImpl,
  type KeyPackage,
  type PrivateKeyPackage,
} from "ts-mls";
import { encodeBase64, encodeBase64Url } from "../../src/protocol/base64.js";
import { MANDATORY_CIPHERSUITE, UNSTABLE_NAMES } from "../../src/protocol/names.js";
import { encodeCredential, encodeIdentity } from "../../src/protocol/credential.js";
import { signJson } from "../../src/protocol/signedJson.js";
import { request } from "./http.js";

/** RFC 9420 extension type of last_resort (draft-ietf-mls-extensions), raw. */
export const LAST_RESORT_EXTENSION = 10;

export const MLS_ALGORITHM = UNSTABLE_NAMES.prefix + MANDATORY_CIPHERSUITE;

let impl: Promise<CiphersuiteImpl> | undefined;
function ciphersuite1(): Promise<CiphersuiteImpl> {
  impl ??= getCiphersuiteImpl(MANDATORY_CIPHERSUITE);
  return impl;
}

export interface SigningKey {
  readonly seed: Uint8Array;
  /** Unpadded standard base64, as Matrix writes public keys. */
  readonly publicKey: string;
  readonly publicBytes: Uint8Array;
}

export function newSigningKey(): SigningKey {
  const seed = ed25519.utils.randomSecretKey();
  const publicBytes = ed25519.getPublicKey(seed);
  return { seed, publicBytes, publicKey: encodeBase64(publicBytes) };
}

/** `value` signed by `key` under `keyId` for `userId`, keeping existing signatures. */
export function signed<T extends object>(value: T, userId: string, keyId: string, key: SigningKey) {
  return signJson(value, userId, { keyId, sign: (message) => ed25519.sign(message, key.seed) });
}

export interface MlsDevice {
  readonly userId: string;
  readonly deviceId: string;
  readonly signatureKey: SigningKey;
  /** Section 9 identity: vectors user_id, device_id, signature public key. */
  readonly identity: Uint8Array;
  /** D18 serialized Credential: basic (1), then the identity vector. */
  readonly credential: Uint8Array;
}

export function newMlsDevice(
  userId: string,
  deviceId: string,
  identityOf?: { userId: string; deviceId: string },
): MlsDevice {
  const signatureKey = newSigningKey();
  const named = identityOf ?? { userId, deviceId };
  const identity = encodeIdentity({ ...named, signaturePublicKey: signatureKey.publicBytes });
  const credential = encodeCredential({ ...named, signaturePublicKey: signatureKey.publicBytes });
  return { userId, deviceId, signatureKey, identity, credential };
}

/** The device's keys as uploaded: its credential under `<prefix>basic:<device>`, signed by it (D19). */
export function deviceKeys(device: MlsDevice, prefix = UNSTABLE_NAMES.prefix) {
  const keyId = `${prefix}basic:${device.deviceId}`;
  return signed(
    {
      user_id: device.userId,
      device_id: device.deviceId,
      algorithms: [prefix + MANDATORY_CIPHERSUITE],
      keys: { [keyId]: encodeBase64Url(device.credential) },
    },
    device.userId,
    keyId,
    device.signatureKey,
  );
}

export interface UploadableKeyPackage {
  readonly keyPackage: KeyPackage;
  /** The private half, for joining from a Welcome. */
  readonly privatePackage: PrivateKeyPackage;
  /** Serialized MLSMessage (wire format mls_key_package). */
  readonly bytes: Uint8Array;
  readonly ref: Uint8Array;
  /** `<algorithm>:<unpadded URL-safe base64 KeyPackageRef>` (D20). */
  readonly keyId: string;
  /** Unpadded URL-safe base64 of `bytes` (D5). */
  readonly value: string;
}

/** A real KeyPackage of ciphersuite 1 for the device; `lastResort` adds extension 10. */
export async function newKeyPackage(
  device: MlsDevice,
  options: { lastResort?: boolean; algorithm?: string } = {},
): Promise<UploadableKeyPackage> {
  const cs = await ciphersuite1();
  const { publicPackage, privatePackage } = await generateKeyPackageWithKey({
    credential: { credentialType: defaultCredentialTypes.basic, identity: device.identity },
    signatureKeyPair: { signKey: device.signatureKey.seed, publicKey: device.signatureKey.publicBytes },
    cipherSuite: cs,
    extensions: options.lastResort
      ? [makeCustomExtension({ extensionType: LAST_RESORT_EXTENSION, extensionData: new Uint8Array() })]
      : [],
  });
  const bytes = encode(mlsMessageEncoder, {
    wireformat: wireformats.mls_key_package,
    version: protocolVersions.mls10,
    keyPackage: publicPackage,
  });
  const ref = await makeKeyPackageRef(publicPackage, cs.hash);
  return {
    keyPackage: publicPackage,
    privatePackage,
    bytes,
    ref,
    keyId: `${options.algorithm ?? MLS_ALGORITHM}:${encodeBase64Url(ref)}`,
    value: encodeBase64Url(bytes),
  };
}

/** Claims one MLS key package of a device over the client-server API; returns its D20 value. */
export async function claimKeyPackage(
  baseUrl: string,
  token: string,
  userId: string,
  deviceId: string,
): Promise<string> {
  const claim = await request<{ one_time_keys: Record<string, Record<string, Record<string, string>>> }>(
    baseUrl,
    "POST",
    "/_matrix/client/v3/keys/claim",
    { token, body: { one_time_keys: { [userId]: { [deviceId]: MLS_ALGORITHM } } } },
  );
  const value = Object.values(claim.body.one_time_keys[userId]?.[deviceId] ?? {})[0];
  if (value === undefined) throw new Error(`no key package left for ${userId} ${deviceId}`);
  return value;
}
