// Room endpoints of the client-server API for MLS rooms: create, send, state, events, history,
// and network membership (sections 6, 7, 10).
import type { FastifyInstance, FastifyRequest } from "fastify";
import { CanonicalJsonError, canonicalJson } from "../../protocol/canonicalJson.js";
import { CREATE_EVENT_TYPE } from "../../protocol/names.js";
import type { ServerComponent } from "../component.js";
import type { ServerContext } from "../context.js";
import { badJson, forbidden, invalidParam, notFound } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { bodyObject, isJsonObject, requiredString } from "../json.js";
import { rowToClientEvent, toClientEvent } from "../services/clientEvents.js";
import { roomMigrations } from "../services/roomSchema.js";
import { eventsAfter, eventsBefore, getEvent, getMembership, membershipsOf } from "../services/roomStore.js";
import { createRoom, invite, join, leave, requireJoined, sendRoomEvent } from "../services/rooms.js";

type Params = Record<string, string>;

function params(request: FastifyRequest): Params {
  return request.params as Params;
}

function query(request: FastifyRequest): Record<string, string | undefined> {
  return request.query as Record<string, string | undefined>;
}

function contentOf(body: unknown): Record<string, unknown> {
  if (!isJsonObject(body)) throw badJson("Event content must be a JSON object");
  // The content is hashed and signed inside its PDU (commits too), so it must be canonical JSON
  // there: integers within ±(2^53-1), no floats, and nested no deeper than
  // MAX_CANONICAL_JSON_DEPTH levels counting the PDU's own; checked as it will sit in the PDU.
  try {
    canonicalJson({ content: body });
  } catch (error) {
    if (error instanceof CanonicalJsonError)
      throw badJson(`Event content is not canonical JSON: ${error.message}`);
    throw error;
  }
  return body;
}

const MAX_MESSAGES_LIMIT = 1000;

function routes(api: FastifyInstance, ctx: ServerContext): void {
  api.post("/createRoom", async (request) => {
    const session = await requireSession(ctx, request);
    return { room_id: await createRoom(ctx, session, bodyObject(request.body)) };
  });

  api.get("/joined_rooms", async (request) => {
    const session = await requireSession(ctx, request);
    const rows = await membershipsOf(ctx.db, session.userId, "join");
    return { joined_rooms: rows.map((row) => row.room_id) };
  });

  api.put("/rooms/:roomId/send/:eventType/:txnId", async (request) => {
    const session = await requireSession(ctx, request);
    const { roomId, eventType, txnId } = params(request);
    const eventId = await sendRoomEvent(ctx, session, {
      roomId: roomId as string,
      type: eventType as string,
      content: contentOf(request.body),
      txnId,
    });
    return { event_id: eventId };
  });

  const putState = async (request: FastifyRequest) => {
    const session = await requireSession(ctx, request);
    const { roomId, eventType, stateKey } = params(request);
    if (eventType === "m.room.member")
      throw forbidden("Section 7: /state cannot change membership in MLS rooms");
    const eventId = await sendRoomEvent(ctx, session, {
      roomId: roomId as string,
      type: eventType as string,
      content: contentOf(request.body),
      stateKey: stateKey ?? "",
    });
    return { event_id: eventId };
  };
  api.put("/rooms/:roomId/state/:eventType", putState);
  api.put("/rooms/:roomId/state/:eventType/", putState);
  api.put("/rooms/:roomId/state/:eventType/:stateKey", putState);

  api.get("/rooms/:roomId/state", async (request) => {
    const session = await requireSession(ctx, request);
    const room = await requireJoined(ctx.db, params(request).roomId as string, session.userId);
    const now = ctx.clock.now();
    return [room.state.create, room.state.commit].flatMap((event) =>
      event ? [toClientEvent(event.eventId, event.pdu, { withRoomId: true, now })] : [],
    );
  });

  const getState = async (request: FastifyRequest) => {
    const session = await requireSession(ctx, request);
    const { roomId, eventType, stateKey } = params(request);
    const room = await requireJoined(ctx.db, roomId as string, session.userId);
    const event =
      eventType === CREATE_EVENT_TYPE
        ? room.state.create
        : eventType === room.names.commitType
          ? room.state.commit
          : undefined;
    if (event === undefined || (stateKey ?? "") !== "")
      throw notFound(`No state ${eventType} with key ${JSON.stringify(stateKey ?? "")}`);
    return query(request).format === "event"
      ? toClientEvent(event.eventId, event.pdu, { withRoomId: true, now: ctx.clock.now() })
      : event.pdu.content;
  };
  api.get("/rooms/:roomId/state/:eventType", getState);
  api.get("/rooms/:roomId/state/:eventType/", getState);
  api.get("/rooms/:roomId/state/:eventType/:stateKey", getState);

  api.get("/rooms/:roomId/event/:eventId", async (request) => {
    const session = await requireSession(ctx, request);
    const { roomId, eventId } = params(request);
    // The spec answers 404 alike for an unknown event and one the caller may not read.
    const membership = await getMembership(ctx.db, roomId as string, session.userId);
    const row = membership?.membership === "join" ? await getEvent(ctx.db, eventId as string) : undefined;
    if (row === undefined || row.room_id !== roomId) {
      throw notFound("The event was not found or you may not read it");
    }
    return rowToClientEvent(row, { withRoomId: true, now: ctx.clock.now() });
  });

  api.get("/rooms/:roomId/messages", async (request) => {
    const session = await requireSession(ctx, request);
    const roomId = params(request).roomId as string;
    await requireJoined(ctx.db, roomId, session.userId);
    const q = query(request);
    const dir = q.dir ?? "b";
    if (dir !== "b" && dir !== "f") throw invalidParam("dir must be b or f");
    const limit = q.limit === undefined ? 10 : Number(q.limit);
    if (!Number.isInteger(limit) || limit < 0) throw invalidParam("limit must be a non-negative integer");
    const upto = ctx.db.committedPosition;
    const from = q.from === undefined || q.from === "" ? (dir === "b" ? upto : 0) : parseToken(q.from);
    const to = q.to === undefined || q.to === "" ? undefined : parseToken(q.to);
    const capped = Math.min(limit, MAX_MESSAGES_LIMIT);
    const now = ctx.clock.now();
    // D23: /messages pages over the room's whole stored history. Tokens are stream positions:
    // backwards from `from` covers positions <= from; forwards covers positions > from.
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
  });

  api.post("/rooms/:roomId/invite", async (request) => {
    const session = await requireSession(ctx, request);
    await invite(
      ctx,
      session,
      params(request).roomId as string,
      requiredString(bodyObject(request.body), "user_id"),
    );
    return {};
  });

  const joinRoute = async (request: FastifyRequest) => {
    const session = await requireSession(ctx, request);
    const { roomId, roomIdOrAlias } = params(request);
    const target = (roomId ?? roomIdOrAlias) as string;
    if (!target.startsWith("!")) throw notFound("Room aliases are not supported for MLS rooms");
    await join(ctx, session, target);
    return { room_id: target };
  };
  api.post("/rooms/:roomId/join", joinRoute);
  api.post("/join/:roomIdOrAlias", joinRoute);

  api.post("/rooms/:roomId/leave", async (request) => {
    const session = await requireSession(ctx, request);
    await leave(ctx, session, params(request).roomId as string);
    return {};
  });

  api.get("/rooms/:roomId/joined_members", async (request) => {
    const session = await requireSession(ctx, request);
    const roomId = params(request).roomId as string;
    const membership = await getMembership(ctx.db, roomId, session.userId);
    if (membership?.membership !== "join") throw forbidden(`You are not joined to room ${roomId}`);
    // Section 11: members come from the MLS group, never from the server; only the caller is listed.
    return { joined: { [session.userId]: {} } };
  });
}

export function parseToken(token: string): number {
  if (!/^\d{1,15}$/.test(token)) throw invalidParam(`Invalid pagination token ${JSON.stringify(token)}`);
  return Number(token);
}

export const roomsComponent: ServerComponent = {
  name: "rooms",
  migrations: roomMigrations,
  clientRoutes: routes,
};
