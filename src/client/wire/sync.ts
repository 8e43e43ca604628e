// The parts of a /sync response the SDK reads (MLS rooms: D22 events, D23 timelines), decoded.
import { CURRENT_COMMIT_SYNC_FIELD } from "../../protocol/names.js";
import {
  arrayOf,
  boolean,
  mapOf,
  number,
  object,
  optionalField,
  requiredField,
  string,
  type Decoder,
  type JsonObject,
} from "./decode.js";

/** A room event as the client-server API hands it out (D22: no sender). */
export interface RoomEvent {
  readonly event_id: string;
  readonly type: string;
  readonly content: Record<string, unknown>;
  readonly origin_server_ts: number;
  readonly state_key?: string;
}

export interface JoinedRoomSync {
  readonly timeline?: {
    readonly events?: readonly RoomEvent[];
    readonly limited?: boolean;
    readonly prev_batch?: string;
  };
  readonly state?: { readonly events?: readonly RoomEvent[] };
  /** The room's current commit (this project's sync extension: docs/client-server-api.md). */
  readonly currentCommit?: string;
}

/** A stripped state event of an invite (D22: the invite names its sender). */
export interface StrippedStateEvent {
  readonly type: string;
  readonly sender?: string;
  readonly state_key?: string;
  readonly content: JsonObject;
}

export interface ToDeviceEvent {
  readonly sender: string;
  readonly type: string;
  readonly content: JsonObject;
}

export interface SyncResponse {
  readonly next_batch: string;
  readonly rooms?: {
    readonly join?: ReadonlyMap<string, JoinedRoomSync>;
    readonly invite?: ReadonlyMap<
      string,
      { readonly invite_state?: { readonly events?: readonly StrippedStateEvent[] } }
    >;
    readonly leave?: ReadonlyMap<string, unknown>;
  };
  readonly to_device?: { readonly events?: readonly ToDeviceEvent[] };
  readonly device_one_time_keys_count?: ReadonlyMap<string, number>;
  readonly device_unused_fallback_key_types?: readonly string[];
}

/** Sync's timeline filter: enough events per pass that gaps (limited timelines) are rare. */
export const SYNC_FILTER = JSON.stringify({ room: { timeline: { limit: 50 } } });

export const decodeRoomEvent: Decoder<RoomEvent> = (value, field) => {
  const o = object(value, field);
  const stateKey = optionalField(o, "state_key", string, field);
  return {
    event_id: requiredField(o, "event_id", string, field),
    type: requiredField(o, "type", string, field),
    content: requiredField(o, "content", object, field),
    origin_server_ts: requiredField(o, "origin_server_ts", number, field),
    ...(stateKey !== undefined ? { state_key: stateKey } : {}),
  };
};

const events = <T>(item: Decoder<T>): Decoder<readonly T[] | undefined> => {
  return (value, field) => optionalField(object(value, field), "events", arrayOf(item), field);
};

const decodeJoined: Decoder<JoinedRoomSync> = (value, field) => {
  const o = object(value, field);
  const timeline = optionalField(o, "timeline", object, field);
  const timelinePath = `${field}.timeline`;
  const timelineEvents = timeline && events(decodeRoomEvent)(timeline, timelinePath);
  const limited = timeline && optionalField(timeline, "limited", boolean, timelinePath);
  const prevBatch = timeline && optionalField(timeline, "prev_batch", string, timelinePath);
  const state = optionalField(o, "state", events(decodeRoomEvent), field);
  const current = optionalField(o, CURRENT_COMMIT_SYNC_FIELD, string, field);
  return {
    ...(timeline
      ? {
          timeline: {
            ...(timelineEvents ? { events: timelineEvents } : {}),
            ...(limited !== undefined ? { limited } : {}),
            ...(prevBatch !== undefined ? { prev_batch: prevBatch } : {}),
          },
        }
      : {}),
    ...(state ? { state: { events: state } } : {}),
    ...(current !== undefined ? { currentCommit: current } : {}),
  };
};

const decodeStripped: Decoder<StrippedStateEvent> = (value, field) => {
  const o = object(value, field);
  const sender = optionalField(o, "sender", string, field);
  const stateKey = optionalField(o, "state_key", string, field);
  return {
    type: requiredField(o, "type", string, field),
    content: requiredField(o, "content", object, field),
    ...(sender !== undefined ? { sender } : {}),
    ...(stateKey !== undefined ? { state_key: stateKey } : {}),
  };
};

const decodeInvited: Decoder<{ invite_state?: { events?: readonly StrippedStateEvent[] } }> = (
  value,
  field,
) => {
  const state = optionalField(object(value, field), "invite_state", events(decodeStripped), field);
  return state ? { invite_state: { events: state } } : {};
};

const decodeToDevice: Decoder<ToDeviceEvent> = (value, field) => {
  const o = object(value, field);
  return {
    sender: requiredField(o, "sender", string, field),
    type: requiredField(o, "type", string, field),
    content: requiredField(o, "content", object, field),
  };
};

export const decodeSyncResponse: Decoder<SyncResponse> = (value, field) => {
  const o = object(value, field);
  const rooms = optionalField(o, "rooms", object, field);
  const roomsPath = `${field ? `${field}.` : ""}rooms`;
  const join = rooms && optionalField(rooms, "join", mapOf(decodeJoined), roomsPath);
  const invite = rooms && optionalField(rooms, "invite", mapOf(decodeInvited), roomsPath);
  const leave = rooms && optionalField(rooms, "leave", mapOf(object), roomsPath);
  const toDevice = optionalField(o, "to_device", events(decodeToDevice), field);
  const counts = optionalField(o, "device_one_time_keys_count", mapOf(number), field);
  const fallback = optionalField(o, "device_unused_fallback_key_types", arrayOf(string), field);
  return {
    next_batch: requiredField(o, "next_batch", string, field),
    ...(rooms
      ? {
          rooms: {
            ...(join ? { join } : {}),
            ...(invite ? { invite } : {}),
            ...(leave ? { leave } : {}),
          },
        }
      : {}),
    ...(toDevice ? { to_device: { events: toDevice } } : {}),
    ...(counts ? { device_one_time_keys_count: counts } : {}),
    ...(fallback ? { device_unused_fallback_key_types: fallback } : {}),
  };
};
