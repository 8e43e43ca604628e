// What a new room starts with (sections 3, 8): the federation object naming the creating server
// as the sole power, the record, and the room state the epoch-0 commit carries; and how a room
// is summed up for the app.
import {
  DEFAULT_REQUIRED_VERIFICATION,
  type FederationObject,
  type RequiredVerification,
} from "../../protocol/federationObject.js";
import { DEFAULT_ROOM_VERSION } from "../../protocol/names.js";
import type { RoomSummary } from "../events.js";
import { groupEpoch, groupMembers, roomStateOf, type GroupState, type RoomStateMap } from "../mls/engine.js";
import { newRoomRecord, type RoomRecord } from "./roomRecord.js";

export interface NewRoomOptions {
  readonly name?: string;
  readonly topic?: string;
  readonly requiredVerification?: RequiredVerification;
  /** security.window in seconds (section 3); 0 by default. */
  readonly window?: number;
}

export function newRoom(
  roomId: string,
  server: string,
  options: NewRoomOptions,
): { record: RoomRecord; federation: FederationObject; roomState?: RoomStateMap } {
  const federation: FederationObject = {
    federation: { servers: [server], powers: [server], canPropose: [server] },
    security: {
      window: options.window ?? 0,
      requiredVerification: options.requiredVerification ?? DEFAULT_REQUIRED_VERIFICATION,
    },
  };
  const record: RoomRecord = {
    ...newRoomRecord(roomId, "joined"),
    roomVersion: DEFAULT_ROOM_VERSION,
    federation,
    joinedEpoch: 0,
  };
  const roomState: Record<string, Record<string, Record<string, unknown>>> = {};
  if (options.name !== undefined) roomState["m.room.name"] = { "": { name: options.name } };
  if (options.topic !== undefined) roomState["m.room.topic"] = { "": { topic: options.topic } };
  return { record, federation, ...(Object.keys(roomState).length > 0 ? { roomState } : {}) };
}

export function roomSummary(room: RoomRecord, group: GroupState | undefined): RoomSummary {
  const state = group ? roomStateOf(group) : {};
  const name = state["m.room.name"]?.[""]?.name;
  const topic = state["m.room.topic"]?.[""]?.topic;
  return {
    roomId: room.roomId,
    membership: room.membership,
    removed: room.removed,
    ...(typeof name === "string" ? { name } : {}),
    ...(typeof topic === "string" ? { topic } : {}),
    ...(group ? { epoch: Number(groupEpoch(group)) } : {}),
    memberCount: group ? groupMembers(group).length : 0,
    ...(room.inviter ? { inviter: room.inviter } : {}),
  };
}
