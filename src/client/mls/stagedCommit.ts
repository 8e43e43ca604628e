// A commit as a typed value: what it changes (members, room state, federation object, epoch),
// staged from what the MLS engine returned and merged into the room in one step once it is the
// epoch's accepted commit (section 6), or dropped when another commit wins.
import { decodeFederationObject, type FederationObject } from "../../protocol/federationObject.js";
import type { DeviceRef } from "../events.js";
import {
  groupEpoch,
  groupMembers,
  roomStateOf,
  type GroupMember,
  type GroupState,
  type RoomStateMap,
} from "./engine.js";

export interface StateChange {
  readonly eventType: string;
  readonly stateKey: string;
  readonly content: Record<string, unknown> | undefined;
}

export interface StagedCommit {
  /** The epoch the commit ends (the group's epoch before it). */
  readonly fromEpoch: bigint;
  /** The group after the commit; for a commit that removed us, the epoch we left (section 7). */
  readonly state: GroupState;
  readonly added: readonly DeviceRef[];
  readonly removed: readonly DeviceRef[];
  readonly stateChanges: readonly StateChange[];
  /** The commit's federation object (section 3); undefined when it could not be read. */
  readonly federation: FederationObject | undefined;
  /** Our own commit, come back accepted. */
  readonly own: boolean;
  /** The commit removed this device's leaf. */
  readonly removedSelf: boolean;
}

const deviceKey = (member: DeviceRef) => `${member.userId}\u0000${member.deviceId}`;
const ref = ({ userId, deviceId }: GroupMember): DeviceRef => ({ userId, deviceId });

function stateDiff(before: RoomStateMap, after: RoomStateMap): StateChange[] {
  const changes: StateChange[] = [];
  const types = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const eventType of types) {
    const keys = new Set([...Object.keys(before[eventType] ?? {}), ...Object.keys(after[eventType] ?? {})]);
    for (const stateKey of keys) {
      const old = before[eventType]?.[stateKey];
      const now = after[eventType]?.[stateKey];
      if (JSON.stringify(old) !== JSON.stringify(now)) {
        changes.push({ eventType, stateKey, content: now as Record<string, unknown> | undefined });
      }
    }
  }
  return changes;
}

/**
 * Stages a commit the engine processed: `before` is our group, `after` the engine's next state.
 * Our own commit carries the federation object we proposed; another's is read from its
 * authenticated data (the server checked it, R9.5-R9.10; unreadable leaves it undefined).
 */
export function stageCommit(
  before: GroupState,
  received:
    | { readonly own: true; readonly state: GroupState; readonly federation: FederationObject }
    | {
        readonly own: false;
        readonly state: GroupState;
        readonly authenticatedData: Uint8Array;
        readonly removedSelf: boolean;
      },
): StagedCommit {
  let federation: FederationObject | undefined;
  if (received.own) federation = received.federation;
  else {
    try {
      federation = decodeFederationObject(received.authenticatedData);
    } catch {
      federation = undefined;
    }
  }
  const removedSelf = !received.own && received.removedSelf;
  const beforeMembers = groupMembers(before);
  const afterMembers = removedSelf ? beforeMembers : groupMembers(received.state);
  const beforeKeys = new Set(beforeMembers.map(deviceKey));
  const afterKeys = new Set(afterMembers.map(deviceKey));
  return {
    fromEpoch: groupEpoch(before),
    state: received.state,
    added: afterMembers.filter((m) => !beforeKeys.has(deviceKey(m))).map(ref),
    removed: beforeMembers.filter((m) => !afterKeys.has(deviceKey(m))).map(ref),
    stateChanges: removedSelf ? [] : stateDiff(roomStateOf(before), roomStateOf(received.state)),
    federation,
    own: received.own,
    removedSelf,
  };
}
