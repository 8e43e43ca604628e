// What a local client may read of its rooms besides the timeline: joined rooms, the room state
// (section 5: the create event and the current commit) and single events.
import { CREATE_EVENT_TYPE } from "../../protocol/names.js";
import { forbidden, notFound } from "../errors.js";
import { rowToClientEvent, toClientEvent, type ClientEvent } from "./clientEvents.js";
import { isJoined, requireJoined } from "./roomState.js";
import { getEvent, membershipsOf } from "./roomStore.js";
import type { AuthEvent } from "../../protocol/auth/authEvent.js";
import type { RoomsContext } from "./ports.js";

export async function joinedRooms(ctx: RoomsContext, userId: string): Promise<string[]> {
  return (await membershipsOf(ctx.db, userId, "join")).map((row) => row.room_id);
}

/** The room's state events as a client sees them. */
export async function roomStateEvents(
  ctx: RoomsContext,
  roomId: string,
  userId: string,
): Promise<ClientEvent[]> {
  const room = await requireJoined(ctx.db, roomId, userId);
  const now = ctx.clock.now();
  return [room.state.create, room.state.commit].flatMap((event) =>
    event ? [toClientEvent(event.eventId, event.pdu, { withRoomId: true, now })] : [],
  );
}

/** One state event: the create event or the current commit, with the empty state key. */
export async function roomStateEvent(
  ctx: RoomsContext,
  roomId: string,
  userId: string,
  eventType: string,
  stateKey: string,
): Promise<AuthEvent> {
  const room = await requireJoined(ctx.db, roomId, userId);
  const event =
    eventType === CREATE_EVENT_TYPE
      ? room.state.create
      : eventType === room.names.commitType
        ? room.state.commit
        : undefined;
  if (event === undefined || stateKey !== "")
    throw notFound(`No state ${eventType} with key ${JSON.stringify(stateKey)}`);
  return event;
}

/** One event of a room the user is joined to. */
export async function roomEvent(
  ctx: RoomsContext,
  roomId: string,
  userId: string,
  eventId: string,
): Promise<ClientEvent> {
  // The spec answers 404 alike for an unknown event and one the caller may not read.
  const row = (await isJoined(ctx.db, roomId, userId)) ? await getEvent(ctx.db, eventId) : undefined;
  if (row === undefined || row.room_id !== roomId) {
    throw notFound("The event was not found or you may not read it");
  }
  return rowToClientEvent(row, { withRoomId: true, now: ctx.clock.now() });
}

/** M_FORBIDDEN unless the user is joined to the room (the room itself is not loaded). */
export async function requireMember(ctx: RoomsContext, roomId: string, userId: string): Promise<void> {
  if (!(await isJoined(ctx.db, roomId, userId))) throw forbidden(`You are not joined to room ${roomId}`);
}
