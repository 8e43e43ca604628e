// The commits behind the user's room operations, each planned against the group as it is now
// (so that a retry after a lost race does only what is still needed).
import {
  checkRoomStateEntry,
  groupMembers,
  keyPackageIdentity,
  ownLeafIndex,
  proposedRemovals,
  hasPendingProposals,
  roomStateOf,
  type GroupState,
  type RoomStateMap,
} from "../mls/engine.js";
import { deviceVerificationLevels, meetsRequirement } from "../device/verification.js";
import type { MatrixHttp } from "../http/matrixHttp.js";
import type { ClientStore } from "../store/clientStore.js";
import type { DeviceRef } from "../events.js";
import { MyelinError } from "../errors.js";
import { MLS_ALGORITHM } from "../keyPackagePool.js";
import { serverOf, withServers, type CommitPlan, type CommitPlanner } from "./commitPlan.js";
import type { ClaimedKeyPackage, RoomRecord } from "./roomRecord.js";
import { equalBytes } from "../../protocol/bytes.js";
import { decodeKeysClaim } from "../wire/keys.js";

function federationOf(room: RoomRecord) {
  if (!room.federation) throw new MyelinError("BAD_STATE", `no current commit known in ${room.roomId}`);
  return room.federation;
}

const inGroup = (group: GroupState, device: DeviceRef) =>
  groupMembers(group).some((m) => m.userId === device.userId && m.deviceId === device.deviceId);

export interface ClaimDeps {
  readonly http: MatrixHttp;
  readonly store: ClientStore;
  readonly ourUserId: string;
}

export interface AddDevicesResult {
  readonly planner: CommitPlanner;
  readonly added: DeviceRef[];
  readonly skipped: (DeviceRef & { reason: string })[];
}

/**
 * Section 7 invite (and adding our own new device): every device of the user that meets the
 * room's required_verification (section 3) gets one claimed key package, checked to carry the
 * device's own credential; the commit also adds the user's server to `servers` when missing.
 * Claims happen once; a retried commit reuses them.
 */
export async function planAddDevices(
  deps: ClaimDeps,
  room: RoomRecord,
  userId: string,
  options: { onlyDevice?: string; invite: boolean },
): Promise<AddDevicesResult> {
  const required = federationOf(room).security.requiredVerification;
  const levels = await deviceVerificationLevels({ ...deps, userId });
  const skipped: (DeviceRef & { reason: string })[] = [];
  const wanted: { deviceId: string; signaturePublicKey: Uint8Array }[] = [];
  for (const [deviceId, verification] of levels) {
    if (options.onlyDevice !== undefined && deviceId !== options.onlyDevice) continue;
    if (!verification.signaturePublicKey || verification.level === undefined) {
      skipped.push({ userId, deviceId, reason: "not an MLS device (no valid section 9 credential)" });
    } else if (!meetsRequirement(verification.level, required)) {
      skipped.push({
        userId,
        deviceId,
        reason: `verification ${verification.level} does not meet the room's ${required}`,
      });
    } else {
      wanted.push({ deviceId, signaturePublicKey: verification.signaturePublicKey });
    }
  }
  const claimed: ClaimedKeyPackage[] = [];
  if (wanted.length > 0) {
    const reply = await deps.http.request("POST", "/keys/claim", decodeKeysClaim, {
      body: {
        one_time_keys: { [userId]: Object.fromEntries(wanted.map((d) => [d.deviceId, MLS_ALGORITHM])) },
      },
    });
    for (const device of wanted) {
      const value = reply.get(userId)?.get(device.deviceId)?.values().next().value;
      const identity = value === undefined ? undefined : keyPackageIdentity(value);
      if (identity === undefined) {
        skipped.push({ userId, deviceId: device.deviceId, reason: "no key package available" });
      } else if (
        identity.userId !== userId ||
        identity.deviceId !== device.deviceId ||
        !equalBytes(identity.signaturePublicKey, device.signaturePublicKey)
      ) {
        // The homeserver handed out a key package that is not the device's own: never add it.
        skipped.push({
          userId,
          deviceId: device.deviceId,
          reason: "key package does not match the device's credential",
        });
      } else {
        claimed.push({ userId, deviceId: device.deviceId, keyPackage: value! });
      }
    }
  }
  if (claimed.length === 0) {
    throw new MyelinError(
      "NO_DEVICES",
      `no device of ${userId} can be added: ${skipped.map((s) => `${s.deviceId}: ${s.reason}`).join("; ") || "the user has no devices"}`,
    );
  }
  const planner: CommitPlanner = async (current, group) => {
    const add = claimed.filter((device) => !inGroup(group, device));
    if (add.length === 0) return undefined; // a competing commit already added them
    return {
      federation: withServers(federationOf(current), [serverOf(userId)]),
      add,
      inviteUsers: options.invite ? [userId] : [],
    };
  };
  return { planner, added: claimed.map(({ userId: u, deviceId }) => ({ userId: u, deviceId })), skipped };
}

/** Removes every leaf of the user (or one device); our own device is never removed this way. */
export function planRemove(own: DeviceRef, userId: string, deviceId?: string): CommitPlanner {
  return async (room, group) => {
    const leaves = groupMembers(group)
      .filter((m) => m.userId === userId && (deviceId === undefined || m.deviceId === deviceId))
      .filter((m) => !(m.userId === own.userId && m.deviceId === own.deviceId))
      .map((m) => m.leafIndex);
    if (leaves.length === 0) return undefined;
    return { federation: federationOf(room), removeLeafIndices: leaves };
  };
}

/** Section 8: room state changes through a commit; the last writer wins on a retry. */
export function planSetState(
  eventType: string,
  stateKey: string,
  content: Record<string, unknown>,
): CommitPlanner {
  checkRoomStateEntry(eventType, stateKey, content);
  return async (room, group) => {
    const current = roomStateOf(group);
    if (JSON.stringify(current[eventType]?.[stateKey]) === JSON.stringify(content)) return undefined;
    const roomState: RoomStateMap = {
      ...current,
      [eventType]: { ...(current[eventType] ?? {}), [stateKey]: content },
    };
    return { federation: federationOf(room), roomState };
  };
}

/** An empty commit: fresh keys on our path. */
export const planSelfUpdate: CommitPlanner = async (room) => ({ federation: federationOf(room) });

/** A leaving user leaves with every device (network membership is per user, section 7). */
const leaving = (room: RoomRecord, member: DeviceRef) => room.leavers.some((l) => l.userId === member.userId);

/**
 * Members who asked to leave (Remove proposals, section 7) are committed out with their user's
 * other devices; a leaver whose proposal was lost to a commit without it is removed directly.
 */
export const planCommitLeavers: CommitPlanner = async (room, group) => {
  const proposed = new Set(proposedRemovals(group));
  const stillThere = groupMembers(group)
    .filter((m) => leaving(room, m))
    .map((m) => m.leafIndex)
    .filter((leaf) => !proposed.has(leaf));
  if (!hasPendingProposals(group) && stillThere.length === 0) return undefined;
  const plan: CommitPlan = { federation: federationOf(room), removeLeafIndices: stillThere };
  return plan;
};

/**
 * One member commits the leavers out, so that members do not race each other for it: the
 * remaining member with the lowest leaf index.
 */
export function shouldCommitLeavers(room: RoomRecord, group: GroupState): boolean {
  const going = new Set(proposedRemovals(group));
  for (const m of groupMembers(group)) if (leaving(room, m)) going.add(m.leafIndex);
  if (going.size === 0) return false;
  const committer = groupMembers(group)
    .map((m) => m.leafIndex)
    .filter((leaf) => !going.has(leaf))
    .sort((a, b) => a - b)[0];
  return committer === ownLeafIndex(group);
}

/**
 * Section 3: a new `powers` (and optionally `can_propose`) for the room. Every entry must be in
 * `servers`; the server rules (R9.9, the promotion rule) decide whether our server may make it.
 */
export function planFederationChange(change: {
  readonly powers?: readonly string[];
  readonly canPropose?: readonly string[];
}): CommitPlanner {
  return async (room) => {
    const current = federationOf(room).federation;
    const powers = change.powers ?? current.powers;
    const canPropose = change.canPropose ?? current.canPropose;
    const outside = [...powers, ...canPropose].filter((server) => !current.servers.includes(server));
    if (outside.length > 0) {
      throw new MyelinError("BAD_STATE", `not in the room's servers: ${[...new Set(outside)].join(", ")}`);
    }
    if (powers.length === 0) throw new MyelinError("BAD_STATE", "a room needs at least one power server");
    const same =
      JSON.stringify(powers) === JSON.stringify(current.powers) &&
      JSON.stringify(canPropose) === JSON.stringify(current.canPropose);
    if (same) return undefined;
    return { federation: { ...federationOf(room), federation: { ...current, powers, canPropose } } };
  };
}
