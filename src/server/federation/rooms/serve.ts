// What this server tells other servers about a room (issue 5, part 3): single events, history
// (backfill), the state and auth chain at an event, and missing events. Section 7 and D15: only
// servers in the `servers` of the room's current commit are answered.
import type { FastifyRequest } from "fastify";
import { CREATE_EVENT_TYPE } from "../../../protocol/names.js";
import type { Pdu } from "../../../protocol/pdu/types.js";
import type { ServerContext } from "../../context.js";
import { forbidden, invalidParam, notFound } from "../../errors.js";
import { loadAuthEvent, loadRoom } from "../../services/rooms.js";
import { getEvent } from "../../services/roomStore.js";
import type { Queryable } from "../../storage/database.js";
import type { FederationRouter } from "../types.js";

const MAX_BACKFILL = 100;
const MAX_MISSING = 20;

function param(request: FastifyRequest, name: string): string {
  return (request.params as Record<string, string>)[name] ?? "";
}

function query(request: FastifyRequest): Record<string, string | string[] | undefined> {
  return (request.query ?? {}) as Record<string, string | string[] | undefined>;
}

/** The room, when `origin` takes part in it (section 7); 403 otherwise, 404 if unknown. */
async function roomFor(ctx: ServerContext, roomId: string, origin: string) {
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
  while (todo.length > 0) {
    const id = todo.pop() as string;
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

export function roomServingRoutes(ctx: ServerContext) {
  const origin = () => ({ origin: ctx.config.serverName, origin_server_ts: ctx.clock.now() });
  return (router: FederationRouter): void => {
    router("GET", "/_matrix/federation/v1/event/:eventId", async (request, from) => {
      const row = await getEvent(ctx.db, param(request, "eventId"));
      if (!row) throw notFound("Unknown event");
      await roomFor(ctx, row.room_id, from);
      return { ...origin(), pdus: [pduOf(row)] };
    });

    router("GET", "/_matrix/federation/v1/event_auth/:roomId/:eventId", async (request, from) => {
      await roomFor(ctx, param(request, "roomId"), from);
      const row = await getEvent(ctx.db, param(request, "eventId"));
      if (!row || row.room_id !== param(request, "roomId")) throw notFound("Unknown event");
      return { auth_chain: [...(await authChain(ctx.db, pduOf(row).auth_events)).values()] };
    });

    router("GET", "/_matrix/federation/v1/state_ids/:roomId", async (request, from) => {
      const room = await roomFor(ctx, param(request, "roomId"), from);
      const eventId = query(request).event_id;
      if (typeof eventId !== "string") throw invalidParam("event_id is required");
      const row = await getEvent(ctx.db, eventId);
      if (!row || row.room_id !== room.row.room_id) throw notFound("Unknown event");
      // Section 5: the state at an event is its create event and its commit (its auth events).
      const pdu = pduOf(row);
      const state = pdu.type === CREATE_EVENT_TYPE ? [eventId] : pdu.auth_events;
      const chain = await authChain(ctx.db, state);
      return { pdu_ids: state, auth_chain_ids: [...chain.keys()].filter((id) => !state.includes(id)) };
    });

    router("GET", "/_matrix/federation/v1/backfill/:roomId", async (request, from) => {
      const room = await roomFor(ctx, param(request, "roomId"), from);
      const q = query(request);
      const starts = (Array.isArray(q.v) ? q.v : q.v ? [q.v] : []).filter((v) => v.length > 0);
      const limit = Math.min(Math.max(Number(q.limit ?? 10) || 10, 1), MAX_BACKFILL);
      let before = Number.MAX_SAFE_INTEGER;
      for (const id of starts) {
        const row = await getEvent(ctx.db, id);
        if (row && row.room_id === room.row.room_id) before = Math.min(before, row.position + 1);
      }
      const rows = await ctx.db.all<{ pdu: string }>(
        "SELECT pdu FROM events WHERE room_id = ? AND position < ? ORDER BY position DESC LIMIT ?",
        [room.row.room_id, before, limit],
      );
      return { ...origin(), pdus: rows.map(pduOf) };
    });

    router("POST", "/_matrix/federation/v1/get_missing_events/:roomId", async (request, from) => {
      const room = await roomFor(ctx, param(request, "roomId"), from);
      const body = (request.body ?? {}) as {
        earliest_events?: unknown;
        latest_events?: unknown;
        limit?: unknown;
      };
      const earliest = new Set(Array.isArray(body.earliest_events) ? body.earliest_events : []);
      const latest = Array.isArray(body.latest_events)
        ? body.latest_events.filter((e) => typeof e === "string")
        : [];
      const limit = Math.min(Math.max(Number(body.limit ?? 10) || 10, 1), MAX_MISSING);
      // Walk prev_events back from the latest events, stopping at the earliest ones.
      const found = new Map<string, { position: number; pdu: Pdu }>();
      const todo: string[] = [];
      for (const id of latest) {
        const row = await getEvent(ctx.db, id as string);
        if (row && row.room_id === room.row.room_id) todo.push(...pduOf(row).prev_events);
      }
      while (todo.length > 0 && found.size < limit) {
        const id = todo.shift() as string;
        if (earliest.has(id) || found.has(id)) continue;
        const row = await getEvent(ctx.db, id);
        if (!row || row.room_id !== room.row.room_id) continue;
        const pdu = pduOf(row);
        found.set(id, { position: row.position, pdu });
        todo.push(...pdu.prev_events);
      }
      const events = [...found.values()].sort((a, b) => a.position - b.position).map((e) => e.pdu);
      return { events };
    });
  };
}
