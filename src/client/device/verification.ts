// How far this device trusts another device, for `security.required_verification` (section 3):
// clients enforce it when they add users or devices to a group; servers cannot.
import { decodeBase64Unpadded, encodeBase64 } from "../../protocol/base64.js";
import type { MatrixHttp } from "../http/matrixHttp.js";
import type { ClientStore } from "../store/clientStore.js";
import { equalBytes } from "../../protocol/bytes.js";
import { signedBy } from "./checks.js";
import { fingerprint, signUserMasterKey, type CrossSigningKeys } from "./crossSigning.js";
import { verifyDeviceKeys, type SignedDeviceKeys } from "./deviceKeys.js";
import {
  loadCrossSigningKeys,
  loadDirectTrust,
  loadTofuPin,
  saveDirectTrust,
  saveTofuPin,
} from "./deviceStore.js";
import { DeviceTrustError } from "./errors.js";
import { queryUserKeys, signedBySelfSigningKey, type UserKeys } from "./keysQuery.js";

/**
 * Strongest first.
 * - direct: we verified this device's MLS signature key ourselves (verifyDevice).
 * - cross: signed by its owner's self-signing key, that by the owner's master key, and the master
 *   key is our own (held by this device) or signed by our user-signing key (verifyUser).
 * - tofu: the same chain, and the master key is the first one we saw for the user.
 * - none: only a valid section-9 device, signed by its own MLS key (D19).
 */
export type VerificationLevel = "direct" | "cross" | "tofu" | "none";

export type RequiredVerification = "m.direct" | "m.cross" | "m.tofu" | "m.none";

export interface DeviceVerification {
  /** Undefined: not a valid MLS device at all; never add it. */
  readonly level: VerificationLevel | undefined;
  readonly deviceKeys?: SignedDeviceKeys;
  readonly signaturePublicKey?: Uint8Array;
}

const RANK: Record<VerificationLevel, number> = { direct: 3, cross: 2, tofu: 1, none: 0 };
const REQUIRED_RANK: Record<RequiredVerification, number> = {
  "m.direct": 3,
  "m.cross": 2,
  "m.tofu": 1,
  "m.none": 0,
};

/**
 * The level of every device of `userId` the homeserver lists. The first master key seen for a
 * user is pinned here (trust on first use); a later different master key is not "tofu".
 */
export async function deviceVerificationLevels(params: {
  http: MatrixHttp;
  store: ClientStore;
  ourUserId: string;
  userId: string;
}): Promise<Map<string, DeviceVerification>> {
  const { http, store, ourUserId, userId } = params;
  const keys = await queryUserKeys(http, userId);
  let pinned = await loadTofuPin(store, userId);
  if (pinned === undefined && keys.master !== undefined) {
    pinned = keys.master.publicKey;
    await saveTofuPin(store, userId, pinned);
  }
  const ours = await loadCrossSigningKeys(store);
  const masterTrusted = crossTrusted(keys, ours, ourUserId, userId);
  const masterPinned = keys.master !== undefined && keys.master.publicKey === pinned;

  const levels = new Map<string, DeviceVerification>();
  for (const [deviceId, value] of keys.devices) {
    const device = verifyDeviceKeys(value, userId, deviceId);
    if (device === undefined) {
      levels.set(deviceId, { level: undefined });
      continue;
    }
    // A direct record for another key (the device's keys changed) is no direct trust.
    const direct = await loadDirectTrust(store, userId, deviceId);
    const chained = signedBySelfSigningKey(keys, userId, value);
    const level: VerificationLevel =
      direct !== undefined && equalBytes(direct, device.signaturePublicKey)
        ? "direct"
        : chained && masterTrusted
          ? "cross"
          : chained && masterPinned
            ? "tofu"
            : "none";
    levels.set(deviceId, {
      level,
      deviceKeys: device.deviceKeys,
      signaturePublicKey: device.signaturePublicKey,
    });
  }
  return levels;
}

/** Whether a device of `level` may be added to a group that requires `required` (section 3). */
export function meetsRequirement(
  level: VerificationLevel | undefined,
  required: RequiredVerification,
): boolean {
  if (level === undefined || !Object.hasOwn(REQUIRED_RANK, required)) return false;
  return RANK[level] >= REQUIRED_RANK[required];
}

/**
 * Verifies another user: our user-signing key signs their master key, which makes every device
 * they approved "cross" for us. Compare the returned fingerprint with the one the other user
 * sees (or pass it as `expectedFingerprint`, and a mismatch refuses). Their master key also
 * becomes their pinned one, which is how a user accepts a changed master key.
 */
export async function verifyUser(params: {
  http: MatrixHttp;
  store: ClientStore;
  ourUserId: string;
  userId: string;
  expectedFingerprint?: string;
}): Promise<string> {
  const { http, store, ourUserId, userId, expectedFingerprint } = params;
  if (userId === ourUserId) {
    throw new DeviceTrustError(
      "own-user",
      "You cannot verify yourself; approve your own new devices from your first device instead",
    );
  }
  const ours = await loadCrossSigningKeys(store);
  if (ours === undefined) {
    throw new DeviceTrustError(
      "no-cross-signing-keys",
      "This device does not hold your cross-signing keys; verify users from your first device",
    );
  }
  const { master } = await queryUserKeys(http, userId);
  if (master === undefined) {
    throw new DeviceTrustError(
      "no-master-key",
      `${userId} has no cross-signing keys yet; they must sign in with an MLS client first`,
    );
  }
  const theirs = fingerprint(master.publicKey);
  if (expectedFingerprint !== undefined && compact(expectedFingerprint) !== compact(theirs)) {
    throw new DeviceTrustError(
      "fingerprint-mismatch",
      `The fingerprint of ${userId} is ${theirs}, not the one you compared; do not trust this user until you find out why`,
    );
  }
  await signUserMasterKey(http, ourUserId, ours, master.json);
  await saveTofuPin(store, userId, master.publicKey);
  return theirs;
}

/**
 * Verifies one device directly: records its MLS signature key, which makes it "direct". Compare
 * the returned fingerprint with the one the device shows (or pass `expectedFingerprint`).
 */
export async function verifyDevice(params: {
  http: MatrixHttp;
  store: ClientStore;
  userId: string;
  deviceId: string;
  expectedFingerprint?: string;
}): Promise<string> {
  const { http, store, userId, deviceId, expectedFingerprint } = params;
  const { devices } = await queryUserKeys(http, userId);
  const device = verifyDeviceKeys(devices.get(deviceId), userId, deviceId);
  if (device === undefined) {
    throw new DeviceTrustError(
      "invalid-device",
      `${userId} has no valid MLS device ${deviceId}; check the device ID, or ask them to sign in on it again`,
    );
  }
  const theirs = deviceFingerprint(device.signaturePublicKey);
  if (expectedFingerprint !== undefined && compact(expectedFingerprint) !== compact(theirs)) {
    throw new DeviceTrustError(
      "fingerprint-mismatch",
      `The fingerprint of ${userId} device ${deviceId} is ${theirs}, not the one you compared; do not trust this device until you find out why`,
    );
  }
  await saveDirectTrust(store, userId, deviceId, device.signaturePublicKey);
  return theirs;
}

/** Human-comparable form of a device's MLS signature public key (section 9). */
export function deviceFingerprint(signaturePublicKey: Uint8Array): string {
  return fingerprint(encodeBase64(signaturePublicKey));
}

/** Whether the user's master key is anchored in our own keys (section "cross" above). */
function crossTrusted(
  keys: UserKeys,
  ours: CrossSigningKeys | undefined,
  ourUserId: string,
  userId: string,
): boolean {
  const master = keys.master;
  if (master === undefined || ours === undefined) return false;
  if (userId === ourUserId) return master.publicKey === ours.master.publicKey;
  const usk = ours.userSigning;
  return signedBy(master.json, ourUserId, `ed25519:${usk.publicKey}`, decodeBase64Unpadded(usk.publicKey));
}

function compact(fingerprintText: string): string {
  return fingerprintText.replace(/\s+/g, "");
}
