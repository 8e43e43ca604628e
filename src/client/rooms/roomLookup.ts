// What the SDK reads about a room from its homeserver: the room version, the current commit's
// federation object (section 3) and history to fill a gap in a limited sync timeline.
import { decodeBase64Lenient } from "../../protocol/base64.js";
import { decodeFederationObject } from "../../protocol/federationObject.js";
import { readMlsFraming } from "../../protocol/mlsFraming.js";
import { CREATE_EVENT_TYPE, namesForRoomVersion } from "../../protocol/names.js";
import { MyelinError } from "../errors.js";
import { segment, type MatrixHttp } from "../http/matrixHttp.js";
import type { RoomEvent, RoomRecord } from "./roomRecord.js";
import { decodeMessagesPage, decodeStateContent } from "../wire/replies.js";

/** The record with its room version, read from the create event when unknown. */
export async function ensureRoomVersion(http: MatrixHttp, room: RoomRecord): Promise<RoomRecord> {
  if (room.roomVersion !== undefined) return room;
  const create = await http.request(
    "GET",
    `/rooms/${segment(room.roomId)}/state/${CREATE_EVENT_TYPE}/`,
    decodeStateContent,
  );
  return typeof create.room_version === "string" ? { ...room, roomVersion: create.room_version } : room;
}

/** The federation object of the room's current commit (section 3), read from the server. */
export async function ensureFederation(http: MatrixHttp, record: RoomRecord): Promise<RoomRecord> {
  if (record.federation) return record;
  const room = await ensureRoomVersion(http, record);
  const names = room.roomVersion ? namesForRoomVersion(room.roomVersion) : undefined;
  if (!names) throw new MyelinError("BAD_STATE", `${room.roomId} is not an MLS room`);
  const commit = await http.request(
    "GET",
    `/rooms/${segment(room.roomId)}/state/${segment(names.commitType)}/`,
    decodeStateContent,
  );
  const federation = decodeFederationObject(
    readMlsFraming(decodeBase64Lenient(String(commit.ciphertext))).authenticatedData,
  );
  return { ...room, federation };
}

/** A limited timeline: pages back to the last event we processed (or the room's start). */
export async function fillGap(
  http: MatrixHttp,
  room: RoomRecord,
  from: string | undefined,
): Promise<RoomEvent[]> {
  const events: RoomEvent[] = [];
  let token = from;
  while (token !== undefined && events.length < 10_000) {
    const page = await http.request("GET", `/rooms/${segment(room.roomId)}/messages`, decodeMessagesPage, {
      query: { dir: "b", from: token, limit: 100 },
    });
    const seen = page.chunk.findIndex((event) => event.event_id === room.lastEventId);
    events.push(...(seen >= 0 ? page.chunk.slice(0, seen) : page.chunk));
    if (seen >= 0 || page.chunk.length === 0 || page.end === undefined) break;
    token = page.end;
  }
  return events.reverse();
}
