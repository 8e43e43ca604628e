// Our commits as core steps with no I/O (section 6): staging one for a plan on the room's group
// (the commit in flight and the request that sends it), and dropping it when the server refused
// it. Whether it was accepted is learnt from sync, in the room reducer's mergeCommit.
import { defaultAlgorithm, namesForRoomVersion } from "../../protocol/names.js";
import type { CommitIntent } from "../events.js";
import { MyelinError } from "../errors.js";
import { createRoomCommit, groupEpoch } from "../mls/engine.js";
import type { CommitPlan } from "./commitPlan.js";
import type { Room } from "./roomReducer.js";
import type { PendingCommitRecord } from "./roomRecord.js";

/** The PUT that sends our commit: the commit state event, or a pending commit (D13). */
export interface CommitRequest {
  readonly roomId: string;
  readonly route:
    | { readonly kind: "state"; readonly eventType: string }
    | { readonly kind: "pending"; readonly eventType: string; readonly txnId: string };
  readonly body: { readonly algorithm: string; readonly ciphertext: string };
}

/**
 * Makes our commit for `plan` against the room's group. The returned room holds it in flight
 * (`record.pending` and the staged next-epoch state): the driver stores it before the request
 * leaves, so a restart with the commit in flight can still adopt it.
 */
export async function stageOwnCommit(
  room: Room,
  params: {
    readonly intent: CommitIntent;
    readonly plan: CommitPlan;
    readonly id: string;
    /** Our homeserver's name: it sends the commit itself only as powers[0] (D13). */
    readonly serverName: string;
  },
): Promise<{ room: Room; request: CommitRequest }> {
  const { record, group } = room;
  if (!group || record.removed) {
    throw new MyelinError("NOT_IN_ROOM", `this device is not in the MLS group of ${record.roomId}`);
  }
  const names = record.roomVersion ? namesForRoomVersion(record.roomVersion) : undefined;
  if (!names) throw new MyelinError("BAD_STATE", `unknown room version of ${record.roomId}`);
  const { plan, serverName } = params;
  const epoch = Number(groupEpoch(group));
  // Who may take the commit is decided by the current commit's federation object (D13), not by
  // the one this commit proposes (which may hand the first power on).
  const { powers, canPropose } = (record.federation ?? plan.federation).federation;
  let route: CommitRequest["route"];
  if (powers[0] === serverName || epoch === 0) route = { kind: "state", eventType: names.commitType };
  else if (canPropose.includes(serverName)) {
    // D13: every server other than powers[0] forwards commits as pending commits.
    route = { kind: "pending", eventType: names.pendingType, txnId: params.id };
  } else {
    throw new MyelinError(
      "CANNOT_COMMIT",
      `${serverName} may not propose commits in ${record.roomId} (not in can_propose)`,
    );
  }
  const staged = await createRoomCommit({
    state: group,
    federation: plan.federation,
    addKeyPackages: (plan.add ?? []).map((device) => device.keyPackage),
    removeLeafIndices: plan.removeLeafIndices ?? [],
    ...(plan.roomState ? { roomState: plan.roomState } : {}),
  });
  const pending: PendingCommitRecord = {
    id: params.id,
    epoch,
    intent: params.intent,
    ciphertext: staged.ciphertext,
    ...(staged.welcome ? { welcome: staged.welcome } : {}),
    added: plan.add ?? [],
    inviteUsers: plan.inviteUsers ?? [],
    federation: plan.federation,
  };
  return {
    room: { record: { ...record, pending }, group, staged },
    request: {
      roomId: record.roomId,
      route,
      body: { algorithm: defaultAlgorithm(names), ciphertext: staged.ciphertext },
    },
  };
}

/** The server refused our commit (a 409: another commit took the epoch, D12): it is dropped. */
export function dropOwnCommit(room: Room): Room {
  return { ...room, record: { ...room.record, pending: undefined }, staged: undefined };
}
