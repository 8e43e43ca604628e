// Room endpoints of the client-server API for MLS rooms: create, send, state, events, history,
// and network membership (sections 6, 7, 10). Each route reads its parameters and body and makes
// one call to the rooms domain (src/server/rooms/).
import type { FastifyInstance, FastifyRequest } from "fastify";
import { CanonicalJsonError, canonicalJson } from "../../protocol/canonicalJson.js";
import type { ServerComponent } from "../component.js";
import type { ServerContext } from "../context.js";
import { badJson, forbidden, notFound } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { bodyObject, isJsonObject, pathParam, queryParam, requiredString, type JsonObject } from "../json.js";
import { toClientEvent } from "../rooms/clientEvents.js";
import { roomMigrations } from "../rooms/roomSchema.js";
import type { Rooms } from "../rooms/rooms.js";

export { parseToken } from "../rooms/messages.js";

function contentOf(body: unknown): JsonObject {
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

function routes(api: FastifyInstance, ctx: ServerContext, rooms: Rooms): void {
  api.post("/createRoom", async (request) => {
    const session = await requireSession(ctx, request);
    return { room_id: await rooms.createRoom(session, bodyObject(request.body)) };
  });

  api.get("/joined_rooms", async (request) => {
    const session = await requireSession(ctx, request);
    return { joined_rooms: await rooms.joinedRooms(session.userId) };
  });

  api.put("/rooms/:roomId/send/:eventType/:txnId", async (request) => {
    const session = await requireSession(ctx, request);
    const { params } = request;
    const eventId = await rooms.send(session, {
      roomId: pathParam(params, "roomId"),
      type: pathParam(params, "eventType"),
      content: contentOf(request.body),
      txnId: pathParam(params, "txnId"),
    });
    return { event_id: eventId };
  });

  const putState = async (request: FastifyRequest) => {
    const session = await requireSession(ctx, request);
    const { params } = request;
    const eventType = pathParam(params, "eventType");
    if (eventType === "m.room.member")
      throw forbidden("Section 7: /state cannot change membership in MLS rooms");
    const eventId = await rooms.send(session, {
      roomId: pathParam(params, "roomId"),
      type: eventType,
      content: contentOf(request.body),
      stateKey: pathParam(params, "stateKey"),
    });
    return { event_id: eventId };
  };
  api.put("/rooms/:roomId/state/:eventType", putState);
  api.put("/rooms/:roomId/state/:eventType/", putState);
  api.put("/rooms/:roomId/state/:eventType/:stateKey", putState);

  api.get("/rooms/:roomId/state", async (request) => {
    const session = await requireSession(ctx, request);
    return rooms.stateEvents(pathParam(request.params, "roomId"), session.userId);
  });

  const getState = async (request: FastifyRequest) => {
    const session = await requireSession(ctx, request);
    const { params } = request;
    const format = queryParam(request.query, "format");
    const event = await rooms.stateEvent(
      pathParam(params, "roomId"),
      session.userId,
      pathParam(params, "eventType"),
      pathParam(params, "stateKey"),
    );
    return format === "event"
      ? toClientEvent(event.eventId, event.pdu, { withRoomId: true, now: ctx.clock.now() })
      : event.pdu.content;
  };
  api.get("/rooms/:roomId/state/:eventType", getState);
  api.get("/rooms/:roomId/state/:eventType/", getState);
  api.get("/rooms/:roomId/state/:eventType/:stateKey", getState);

  api.get("/rooms/:roomId/event/:eventId", async (request) => {
    const session = await requireSession(ctx, request);
    const { params } = request;
    return rooms.event(pathParam(params, "roomId"), session.userId, pathParam(params, "eventId"));
  });

  api.get("/rooms/:roomId/messages", async (request) => {
    const session = await requireSession(ctx, request);
    const { query } = request;
    return rooms.messages(pathParam(request.params, "roomId"), session.userId, {
      dir: queryParam(query, "dir"),
      limit: queryParam(query, "limit"),
      from: queryParam(query, "from"),
      to: queryParam(query, "to"),
    });
  });

  api.post("/rooms/:roomId/invite", async (request) => {
    const session = await requireSession(ctx, request);
    const userId = requiredString(bodyObject(request.body), "user_id");
    await rooms.invite(session, pathParam(request.params, "roomId"), userId);
    return {};
  });

  const joinRoute = (param: string) => async (request: FastifyRequest) => {
    const session = await requireSession(ctx, request);
    const target = pathParam(request.params, param);
    if (!target.startsWith("!")) throw notFound("Room aliases are not supported for MLS rooms");
    await rooms.join(session, target);
    return { room_id: target };
  };
  api.post("/rooms/:roomId/join", joinRoute("roomId"));
  api.post("/join/:roomIdOrAlias", joinRoute("roomIdOrAlias"));

  api.post("/rooms/:roomId/leave", async (request) => {
    const session = await requireSession(ctx, request);
    await rooms.leave(session, pathParam(request.params, "roomId"));
    return {};
  });

  api.get("/rooms/:roomId/joined_members", async (request) => {
    const session = await requireSession(ctx, request);
    await rooms.requireMember(pathParam(request.params, "roomId"), session.userId);
    // Section 11: members come from the MLS group, never from the server; only the caller is listed.
    return { joined: { [session.userId]: {} } };
  });
}

/** The client API's rooms component over the server's rooms domain. */
export function roomsComponent(roomsOf: (ctx: ServerContext) => Rooms): ServerComponent {
  return {
    name: "rooms",
    migrations: roomMigrations,
    clientRoutes: (api, ctx) => routes(api, ctx, roomsOf(ctx)),
  };
}
