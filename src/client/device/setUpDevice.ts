// What the SDK runs once after login or registration: the device's MLS signature key, its
// section-9 device keys, and cross-signing (the first device creates the user's keys; later
// devices wait until a device holding them approves them).
import { generateSignatureKeyPair, type SignatureKeyPair } from "../mls/engine.js";
import type { MatrixHttp } from "../http/matrixHttp.js";
import { ignoreBody } from "../wire/replies.js";
import type { ClientStore } from "../store/clientStore.js";
import {
  newCrossSigningKeys,
  signOwnDevice,
  uploadCrossSigningKeys,
  type CrossSigningKeys,
} from "./crossSigning.js";
import { buildDeviceKeys, verifyDeviceKeys, type SignedDeviceKeys } from "./deviceKeys.js";
import {
  loadCrossSigningKeys,
  loadSignatureKeyPair,
  saveCrossSigningKeys,
  saveSignatureKeyPair,
} from "./deviceStore.js";
import { DeviceTrustError } from "./errors.js";
import { queryUserKeys, signedBySelfSigningKey } from "./keysQuery.js";

export interface DeviceSetup {
  readonly signatureKeyPair: SignatureKeyPair;
  readonly deviceKeys: SignedDeviceKeys;
  /** Present when this device holds the user's cross-signing keys (it created them). */
  readonly crossSigning?: CrossSigningKeys;
}

/**
 * Sets the device up; safe to run again (it reuses the stored key pair and re-uploads the same
 * device keys). `password` is needed only if the homeserver asks for it to store cross-signing keys.
 */
export async function setUpDevice(params: {
  http: MatrixHttp;
  store: ClientStore;
  userId: string;
  deviceId: string;
  password?: string;
}): Promise<DeviceSetup> {
  const { http, store, userId, deviceId } = params;
  let signatureKeyPair = await loadSignatureKeyPair(store, userId, deviceId);
  if (signatureKeyPair === undefined) {
    signatureKeyPair = await generateSignatureKeyPair();
    await saveSignatureKeyPair(store, userId, deviceId, signatureKeyPair);
  }
  const deviceKeys = buildDeviceKeys({ userId, deviceId, signatureKeyPair });
  await http.request("POST", "/keys/upload", ignoreBody, { body: { device_keys: deviceKeys } });

  const own = await queryUserKeys(http, userId);
  let crossSigning = await loadCrossSigningKeys(store);
  if (own.master === undefined) {
    // Kept before the upload (and reused after a failed one): keys the homeserver holds must
    // never be lost with their private halves.
    crossSigning ??= newCrossSigningKeys();
    await saveCrossSigningKeys(store, crossSigning);
    await uploadCrossSigningKeys(http, userId, crossSigning, params.password);
    await signOwnDevice(http, userId, crossSigning, deviceKeys);
    return { signatureKeyPair, deviceKeys, crossSigning };
  }
  // The user has a master key: this device can sign itself only with that key's private half.
  // Stored keys of an older master key no longer speak for the user and are not used.
  if (crossSigning === undefined || crossSigning.master.publicKey !== own.master.publicKey) {
    return { signatureKeyPair, deviceKeys };
  }
  if (!signedBySelfSigningKey(own, userId, own.devices.get(deviceId))) {
    await signOwnDevice(http, userId, crossSigning, deviceKeys);
  }
  return { signatureKeyPair, deviceKeys, crossSigning };
}

/**
 * Approves another device of our own user: our self-signing key signs its device keys, which
 * makes it "cross" for everyone who trusts our master key. Needs the cross-signing keys, which
 * only the user's first device holds.
 */
export async function approveOwnDevice(
  http: MatrixHttp,
  store: ClientStore,
  userId: string,
  deviceId: string,
): Promise<void> {
  const keys = await loadCrossSigningKeys(store);
  if (keys === undefined) {
    throw new DeviceTrustError(
      "no-cross-signing-keys",
      "This device does not hold your cross-signing keys; approve the new device from your first device",
    );
  }
  const own = await queryUserKeys(http, userId);
  if (own.master?.publicKey !== keys.master.publicKey) {
    throw new DeviceTrustError(
      "master-key-changed",
      "Your master key on the homeserver is not the one this device holds; approve the device from the device that set up your current keys",
    );
  }
  const device = verifyDeviceKeys(own.devices.get(deviceId), userId, deviceId);
  if (device === undefined) {
    throw new DeviceTrustError(
      "invalid-device",
      `Device ${deviceId} has no valid MLS device keys; sign in on it with an MLS client first`,
    );
  }
  await signOwnDevice(http, userId, keys, device.deviceKeys);
}
