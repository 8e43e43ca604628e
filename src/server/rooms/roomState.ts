// A room as the rules read it: its create event and current commit (section 5), parsed once and
// kept (events never change). Every part of the rooms domain loads rooms through here.
import { toAuthEvent, type AuthEvent } from "../../protocol/auth/authEvent.js";
import type { RoomAuthState } from "../../protocol/auth/rules.js";
import { namesForRoomVersion, type RoomVersionNames } from "../../protocol/names.js";
import type { Pdu } from "../../protocol/pdu/types.js";
import { forbidden } from "../errors.js";
import type { Queryable } from "../storage/database.js";
import type { CurrentCommit } from "./roomErrors.js";
import { getEvent, getMembership, getRoom, type RoomRow } from "./roomStore.js";

const authEventCache = new Map<string, AuthEvent>();
const AUTH_CACHE_LIMIT = 50_000;

/** An event as the rules read it; events never change, so parsed ones are kept. */
export async function loadAuthEvent(q: Queryable, eventId: string): Promise<AuthEvent | undefined> {
  const cached = authEventCache.get(eventId);
  if (cached) return cached;
  const row = await getEvent(q, eventId);
  if (row === undefined) return undefined;
  const event = toAuthEvent(eventId, JSON.parse(row.pdu) as Pdu);
  rememberAuthEvent(event);
  return event;
}

/** Keeps a stored event's parsed form for the rules; events never change. */
export function rememberAuthEvent(event: AuthEvent): void {
  if (authEventCache.size >= AUTH_CACHE_LIMIT) authEventCache.clear();
  authEventCache.set(event.eventId, event);
}

export interface LoadedRoom {
  readonly row: RoomRow;
  readonly names: RoomVersionNames;
  readonly state: RoomAuthState;
}

export async function loadRoom(q: Queryable, roomId: string): Promise<LoadedRoom | undefined> {
  const row = await getRoom(q, roomId);
  return row === undefined ? undefined : loadRoomOf(q, row);
}

export async function loadRoomOf(q: Queryable, row: RoomRow): Promise<LoadedRoom> {
  const roomId = row.room_id;
  const names = namesForRoomVersion(row.room_version);
  const create = await loadAuthEvent(q, row.create_event_id);
  if (names === undefined || create === undefined) throw new Error(`room ${roomId} is corrupt`);
  const commit = row.current_commit_id === null ? undefined : await loadAuthEvent(q, row.current_commit_id);
  return { row, names, state: { create, commit } };
}

export function currentCommit(state: RoomAuthState): CurrentCommit | undefined {
  const commit = state.commit;
  return commit?.framing ? { eventId: commit.eventId, epoch: commit.framing.epoch } : undefined;
}

/** Whether the user is joined to the room. */
export async function isJoined(q: Queryable, roomId: string, userId: string): Promise<boolean> {
  return (await getMembership(q, roomId, userId))?.membership === "join";
}

/** The room, if the user is joined to it; else M_FORBIDDEN (a room the caller may not see). */
export async function requireJoined(q: Queryable, roomId: string, userId: string): Promise<LoadedRoom> {
  const room = (await isJoined(q, roomId, userId)) ? await loadRoom(q, roomId) : undefined;
  if (room === undefined) throw forbidden(`You are not joined to room ${roomId}`);
  return room;
}
