// /messages (D23): pages over the room's whole stored history for a joined user. Tokens are
// stream positions: backwards from `from` covers positions <= from; forwards covers positions > from.
import { invalidParam } from "../errors.js";
import { rowToClientEvent, type ClientEvent } from "./clientEvents.js";
import { requireJoined } from "./roomState.js";
import { eventsAfter, eventsBefore } from "./roomStore.js";
import type { RoomsContext } from "./ports.js";

const MAX_MESSAGES_LIMIT = 1000;

/** The query of a /messages request, as read at the edge. */
export interface MessagesQuery {
  readonly dir?: string;
  readonly limit?: string;
  readonly from?: string;
  readonly to?: string;
}

export interface MessagesPage {
  readonly start: string;
  readonly end?: string;
  readonly chunk: ClientEvent[];
}

/** A pagination token as the client API carries it: a stream position. */
export function parseToken(token: string): number {
  if (!/^\d{1,15}$/.test(token)) throw invalidParam(`Invalid pagination token ${JSON.stringify(token)}`);
  return Number(token);
}

export async function roomMessages(
  ctx: RoomsContext,
  roomId: string,
  userId: string,
  query: MessagesQuery,
): Promise<MessagesPage> {
  await requireJoined(ctx.db, roomId, userId);
  const dir = query.dir ?? "b";
  if (dir !== "b" && dir !== "f") throw invalidParam("dir must be b or f");
  const limit = query.limit === undefined ? 10 : Number(query.limit);
  if (!Number.isInteger(limit) || limit < 0) throw invalidParam("limit must be a non-negative integer");
  const upto = ctx.db.committedPosition;
  const from =
    query.from === undefined || query.from === "" ? (dir === "b" ? upto : 0) : parseToken(query.from);
  const to = query.to === undefined || query.to === "" ? undefined : parseToken(query.to);
  const capped = Math.min(limit, MAX_MESSAGES_LIMIT);
  const now = ctx.clock.now();
  const rows =
    dir === "b"
      ? await eventsBefore(ctx.db, roomId, from + 1, to === undefined ? 0 : to + 1, capped)
      : await eventsAfter(ctx.db, roomId, from, to ?? upto, capped);
  const chunk = rows.map((row) => rowToClientEvent(row, { withRoomId: true, now }));
  const last = rows.at(-1);
  const end = last === undefined ? undefined : dir === "b" ? last.position - 1 : last.position;
  return {
    start: String(from),
    ...(end !== undefined && rows.length === capped ? { end: String(end) } : {}),
    chunk,
  };
}
