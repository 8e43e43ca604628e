// What this server tells other servers about a room (issue 5, part 3): single events, history
// (backfill), the state and auth chain at an event, and missing events. Section 7 and D15: only
// servers in the `servers` of the room's current commit are answered. The federation edge
// (federation/rooms/serveRoutes.ts) reads the requests and shapes the answers.
import { CREATE_EVENT_TYPE } from "../../protocol/names.js";
import type { Pdu } from "../../protocol/pdu/types.js";
import { forbidden, invalidParam, notFound } from "../errors.js";
import type { Queryable } from "../storage/database.js";
import { loadAuthEvent, loadRoom, type LoadedRoom } from "./roomState.js";
import { getEvent, pdusBefore, type EventRow } from "./roomStore.js";
import type { RoomsContext } from "./ports.js";

const MAX_BACKFILL = 100;
const MAX_MISSING = 20;

/** The room, when `origin` takes part in it (section 7); 403 otherwise, 404 if unknown. */
async function roomFor(ctx: RoomsContext, roomId: string, origin: string): Promise<LoadedRoom> {
  const room = await loadRoom(ctx.db, roomId);
  if (!room) throw notFound(`Unknown room ${roomId}`);
  const servers = room.state.commit?.federation?.federation.servers ?? [];
  if (!servers.includes(origin)) {
    throw forbidden(`${origin} is not in the servers of ${roomId}'s current commit (section 7)`);
  }
  return room;
}

/** The auth chain of an event: the create event and every commit back to epoch 0. */
export async function authChain(q: Queryable, authEventIds: readonly string[]): Promise<Map<string, Pdu>> {
  const chain = new Map<string, Pdu>();
  const todo = [...authEventIds];
  for (let id = todo.pop(); id !== undefined; id = todo.pop()) {
    if (chain.has(id)) continue;
    const event = await loadAuthEvent(q, id);
    if (!event) continue;
    chain.set(id, event.pdu);
    todo.push(...event.pdu.auth_events);
  }
  return chain;
}

function pduOf(row: { pdu: string }): Pdu {
  return JSON.parse(row.pdu) as Pdu;
}

function clamp(limit: number, max: number): number {
  return Math.min(Math.max(limit, 1), max);
}

/** An event of a room `origin` takes part in. */
export async function serveEvent(ctx: RoomsContext, origin: string, eventId: string): Promise<Pdu> {
  const row = await getEvent(ctx.db, eventId);
  if (!row) throw notFound("Unknown event");
  await roomFor(ctx, row.room_id, origin);
  return pduOf(row);
}

/** The stored event `eventId` of the room, or 404. */
async function eventIn(ctx: RoomsContext, roomId: string, eventId: string): Promise<EventRow> {
  const row = await getEvent(ctx.db, eventId);
  if (!row || row.room_id !== roomId) throw notFound("Unknown event");
  return row;
}

/** The auth chain of an event (/event_auth). */
export async function serveAuthChain(
  ctx: RoomsContext,
  origin: string,
  roomId: string,
  eventId: string,
): Promise<Pdu[]> {
  await roomFor(ctx, roomId, origin);
  const row = await eventIn(ctx, roomId, eventId);
  return [...(await authChain(ctx.db, pduOf(row).auth_events)).values()];
}

/** The state at an event and its auth chain, by event ID (/state_ids). */
export async function serveStateIds(
  ctx: RoomsContext,
  origin: string,
  roomId: string,
  eventId: string | undefined,
): Promise<{ pdu_ids: string[]; auth_chain_ids: string[] }> {
  const room = await roomFor(ctx, roomId, origin);
  if (eventId === undefined) throw invalidParam("event_id is required");
  const pdu = pduOf(await eventIn(ctx, room.row.room_id, eventId));
  // Section 5: the state at an event is its create event and its commit (its auth events).
  const state = pdu.type === CREATE_EVENT_TYPE ? [eventId] : pdu.auth_events;
  const chain = await authChain(ctx.db, state);
  return { pdu_ids: [...state], auth_chain_ids: [...chain.keys()].filter((id) => !state.includes(id)) };
}

/** History before the events `starts` (/backfill), newest first, at most `limit` (bounded). */
export async function serveBackfill(
  ctx: RoomsContext,
  origin: string,
  roomId: string,
  starts: readonly string[],
  limit: number,
): Promise<Pdu[]> {
  const room = await roomFor(ctx, roomId, origin);
  let before = Number.MAX_SAFE_INTEGER;
  for (const id of starts) {
    const row = await getEvent(ctx.db, id);
    if (row && row.room_id === room.row.room_id) before = Math.min(before, row.position + 1);
  }
  const pdus = await pdusBefore(ctx.db, room.row.room_id, before, clamp(limit, MAX_BACKFILL));
  return pdus.map((pdu) => pduOf({ pdu }));
}

export interface MissingEventsRequest {
  readonly earliest: readonly string[];
  readonly latest: readonly string[];
  readonly limit: number;
}

/** The events between `earliest` and `latest` (/get_missing_events), oldest first. */
export async function serveMissingEvents(
  ctx: RoomsContext,
  origin: string,
  roomId: string,
  request: MissingEventsRequest,
): Promise<Pdu[]> {
  const room = await roomFor(ctx, roomId, origin);
  const earliest = new Set(request.earliest);
  const limit = clamp(request.limit, MAX_MISSING);
  // Walk prev_events back from the latest events, stopping at the earliest ones.
  const found = new Map<string, { position: number; pdu: Pdu }>();
  const todo: string[] = [];
  for (const id of request.latest) {
    const row = await getEvent(ctx.db, id);
    if (row && row.room_id === room.row.room_id) todo.push(...pduOf(row).prev_events);
  }
  for (let id = todo.shift(); id !== undefined && found.size < limit; id = todo.shift()) {
    if (earliest.has(id) || found.has(id)) continue;
    const row = await getEvent(ctx.db, id);
    if (!row || row.room_id !== room.row.room_id) continue;
    const pdu = pduOf(row);
    found.set(id, { position: row.position, pdu });
    todo.push(...pdu.prev_events);
  }
  return [...found.values()].sort((a, b) => a.position - b.position).map((e) => e.pdu);
}
