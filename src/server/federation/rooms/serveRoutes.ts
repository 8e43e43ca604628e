// The federation routes that serve rooms to other servers: each reads its parameters and makes
// one call to the rooms domain (rooms/serve.ts holds what is served to whom).
import { isJsonObject, pathParam, queryParam, queryParams, stringsIn } from "../../json.js";
import type { Rooms } from "../../rooms/rooms.js";
import type { ServerContext } from "../../context.js";
import type { FederationRouter } from "../../federationTypes.js";

/** A peer's `limit`: a number or numeric string; anything else (or 0) means the default. */
function limitOf(value: unknown, fallback: number): number {
  return Number(value ?? fallback) || fallback;
}

export function roomServingRoutes(ctx: ServerContext, rooms: Rooms) {
  const origin = () => ({ origin: ctx.config.serverName, origin_server_ts: ctx.clock.now() });
  return (router: FederationRouter): void => {
    router("GET", "/_matrix/federation/v1/event/:eventId", async (request, from) => {
      const pdu = await rooms.serveEvent(from, pathParam(request.params, "eventId"));
      return { ...origin(), pdus: [pdu] };
    });

    router("GET", "/_matrix/federation/v1/event_auth/:roomId/:eventId", async (request, from) => {
      const { params } = request;
      return {
        auth_chain: await rooms.serveAuthChain(
          from,
          pathParam(params, "roomId"),
          pathParam(params, "eventId"),
        ),
      };
    });

    router("GET", "/_matrix/federation/v1/state_ids/:roomId", async (request, from) => {
      const eventId = queryParam(request.query, "event_id");
      return rooms.serveStateIds(from, pathParam(request.params, "roomId"), eventId);
    });

    router("GET", "/_matrix/federation/v1/backfill/:roomId", async (request, from) => {
      const starts = queryParams(request.query, "v").filter((v) => v.length > 0);
      const limit = limitOf(queryParam(request.query, "limit"), 10);
      const pdus = await rooms.serveBackfill(from, pathParam(request.params, "roomId"), starts, limit);
      return { ...origin(), pdus };
    });

    router("POST", "/_matrix/federation/v1/get_missing_events/:roomId", async (request, from) => {
      const body = isJsonObject(request.body) ? request.body : {};
      const events = await rooms.serveMissingEvents(from, pathParam(request.params, "roomId"), {
        earliest: stringsIn(body.earliest_events),
        latest: stringsIn(body.latest_events),
        limit: limitOf(body.limit, 10),
      });
      return { events };
    });
  };
}
