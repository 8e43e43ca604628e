// The small replies the SDK reads one or two fields of, decoded.
import {
  arrayOf,
  isJsonObject,
  mapOf,
  number,
  object,
  optionalField,
  requiredField,
  string,
  type Decoder,
  type JsonObject,
} from "./decode.js";
import { decodeRoomEvent, type RoomEvent } from "./sync.js";

/** Replies whose body the SDK does not read: any JSON object. */
export const ignoreBody: Decoder<void> = (value, field) => {
  object(value, field);
};

const oneString =
  (name: string): Decoder<string> =>
  (value, field) =>
    requiredField(object(value, field), name, string, field);

/** /send and /state PUT replies. */
export const decodeEventId = oneString("event_id");
/** /createRoom. */
export const decodeRoomId = oneString("room_id");

export interface LoginReply {
  readonly user_id: string;
  readonly device_id: string;
  readonly access_token: string;
}

export const decodeLoginReply: Decoder<LoginReply> = (value, field) => {
  const o = object(value, field);
  return {
    user_id: requiredField(o, "user_id", string, field),
    device_id: requiredField(o, "device_id", string, field),
    access_token: requiredField(o, "access_token", string, field),
  };
};

export interface DeviceInfo {
  readonly device_id: string;
  readonly display_name?: string;
  readonly last_seen_ts?: number;
}

export const decodeDevices: Decoder<readonly DeviceInfo[]> = (value, field) =>
  requiredField(
    object(value, field),
    "devices",
    arrayOf((item, path) => {
      const o = object(item, path);
      const name = optionalField(o, "display_name", string, path);
      const seen = optionalField(o, "last_seen_ts", number, path);
      return {
        device_id: requiredField(o, "device_id", string, path),
        ...(name !== undefined ? { display_name: name } : {}),
        ...(seen !== undefined ? { last_seen_ts: seen } : {}),
      };
    }),
    field,
  );

/** The content of a state event (GET /rooms/{id}/state/{type}/{key}). */
export const decodeStateContent: Decoder<JsonObject> = object;

export const decodeMessagesPage: Decoder<{ chunk: readonly RoomEvent[]; end?: string }> = (value, field) => {
  const o = object(value, field);
  const end = optionalField(o, "end", string, field);
  return {
    chunk: requiredField(o, "chunk", arrayOf(decodeRoomEvent), field),
    ...(end !== undefined ? { end } : {}),
  };
};

/** /keys/signatures/upload: user → key → the refusal. */
export const decodeSignatureFailures: Decoder<ReadonlyMap<string, ReadonlyMap<string, JsonObject>>> = (
  value,
  field,
) => optionalField(object(value, field), "failures", mapOf(mapOf(object)), field) ?? new Map();

/** The Matrix error body `{errcode, error}` of a refusal; a body that is not one reads as M_UNKNOWN. */
export function decodeMatrixError(
  status: number,
  body: unknown,
): { errcode: string; error: string; body: JsonObject } {
  const o = isJsonObject(body) ? body : {};
  return {
    errcode: typeof o.errcode === "string" ? o.errcode : "M_UNKNOWN",
    error: typeof o.error === "string" ? o.error : `HTTP ${status}`,
    body: o,
  };
}
