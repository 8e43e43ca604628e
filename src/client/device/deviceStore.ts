// What this device keeps about keys and trust, in the store's "account" namespace: its MLS
// signature key pair, the user's cross-signing keys (on the device that holds them) and the
// trust records of verification.ts. Records are UTF-8 JSON with base64 bytes.
import { Base64Error, decodeBase64Unpadded, encodeBase64 } from "../../protocol/base64.js";
import type { SignatureKeyPair } from "../mls/engine.js";
import type { ClientStore } from "../store/clientStore.js";
import { isRecord } from "./checks.js";
import { ed25519KeyFromSeed, type CrossSigningKeys } from "./crossSigning.js";
import { DeviceTrustError } from "./errors.js";

const NS = "account";
const SIGNATURE_KEY = "signatureKey";
const CROSS_SIGNING = "crossSigning";
/** Direct trust in a device: its MLS signature public key as we verified it. */
const directKey = (userId: string, deviceId: string) =>
  // The user ID is percent-encoded so its colons cannot run into the device ID's.
  `trust:device:${encodeURIComponent(userId)}:${deviceId}`;
/** The first master key we saw for a user (trust on first use). */
const tofuKey = (userId: string) => `trust:tofu:${userId}`;

/** The stored MLS signature key pair; a store of another user or device is refused. */
export async function loadSignatureKeyPair(
  store: ClientStore,
  userId: string,
  deviceId: string,
): Promise<SignatureKeyPair | undefined> {
  const record = await readJson(store, SIGNATURE_KEY);
  if (record === undefined) return undefined;
  if (record.userId !== userId || record.deviceId !== deviceId) {
    throw new DeviceTrustError(
      "store-mismatch",
      `This store belongs to ${String(record.userId)} device ${String(record.deviceId)}, not ${userId} device ${deviceId}; open a new store for a new login`,
    );
  }
  return { signKey: bytesField(record, "signKey"), publicKey: bytesField(record, "publicKey") };
}

export async function saveSignatureKeyPair(
  store: ClientStore,
  userId: string,
  deviceId: string,
  pair: SignatureKeyPair,
): Promise<void> {
  await writeJson(store, SIGNATURE_KEY, {
    userId,
    deviceId,
    signKey: encodeBase64(pair.signKey),
    publicKey: encodeBase64(pair.publicKey),
  });
}

/** The user's cross-signing private keys, if this device holds them. */
export async function loadCrossSigningKeys(store: ClientStore): Promise<CrossSigningKeys | undefined> {
  const record = await readJson(store, CROSS_SIGNING);
  if (record === undefined) return undefined;
  return {
    master: ed25519KeyFromSeed(bytesField(record, "master")),
    selfSigning: ed25519KeyFromSeed(bytesField(record, "selfSigning")),
    userSigning: ed25519KeyFromSeed(bytesField(record, "userSigning")),
  };
}

export async function saveCrossSigningKeys(store: ClientStore, keys: CrossSigningKeys): Promise<void> {
  await writeJson(store, CROSS_SIGNING, {
    master: encodeBase64(keys.master.seed),
    selfSigning: encodeBase64(keys.selfSigning.seed),
    userSigning: encodeBase64(keys.userSigning.seed),
  });
}

export async function loadDirectTrust(
  store: ClientStore,
  userId: string,
  deviceId: string,
): Promise<Uint8Array | undefined> {
  return store.get(NS, directKey(userId, deviceId));
}

export async function saveDirectTrust(
  store: ClientStore,
  userId: string,
  deviceId: string,
  signaturePublicKey: Uint8Array,
): Promise<void> {
  await store.put(NS, directKey(userId, deviceId), signaturePublicKey);
}

/** The pinned master key (unpadded base64) of a user, if we ever saw one. */
export async function loadTofuPin(store: ClientStore, userId: string): Promise<string | undefined> {
  const bytes = await store.get(NS, tofuKey(userId));
  return bytes === undefined ? undefined : new TextDecoder().decode(bytes);
}

export async function saveTofuPin(
  store: ClientStore,
  userId: string,
  masterPublicKey: string,
): Promise<void> {
  await store.put(NS, tofuKey(userId), new TextEncoder().encode(masterPublicKey));
}

async function readJson(store: ClientStore, key: string): Promise<Record<string, unknown> | undefined> {
  const bytes = await store.get(NS, key);
  if (bytes === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    value = undefined;
  }
  if (!isRecord(value)) throw unreadable(key);
  return value;
}

async function writeJson(store: ClientStore, key: string, value: Record<string, string>): Promise<void> {
  await store.put(NS, key, new TextEncoder().encode(JSON.stringify(value)));
}

function bytesField(record: Record<string, unknown>, field: string): Uint8Array {
  const text = record[field];
  if (typeof text === "string") {
    try {
      return decodeBase64Unpadded(text);
    } catch (error) {
      if (!(error instanceof Base64Error)) throw error;
    }
  }
  throw unreadable(field);
}

function unreadable(what: string): DeviceTrustError {
  return new DeviceTrustError(
    "store-mismatch",
    `The store's ${what} record is unreadable; the store is damaged`,
  );
}
