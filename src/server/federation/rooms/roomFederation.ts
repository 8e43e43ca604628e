// Room federation at the edge: the routes that serve rooms and take remote invites, and the
// /send transaction's PDU handler, over the rooms domain (sections 5-7). The domain's pending
// commit scheduler starts and stops with the server's federation participants.
import type { ServerContext } from "../../context.js";
import type { Rooms } from "../../rooms/rooms.js";
import type { FederationParticipant } from "../transport/federationComponent.js";
import { remoteInviteRoutes } from "./inviteRoutes.js";
import { roomServingRoutes } from "./serveRoutes.js";

export function roomFederation(ctx: ServerContext, rooms: Rooms): FederationParticipant {
  const serving = roomServingRoutes(ctx, rooms);
  const invites = remoteInviteRoutes(rooms);
  return {
    routes: (router) => {
      serving(router);
      invites(router);
    },
    registerHandlers: (handlers) =>
      handlers.registerPduHandler((origin, pdus) => rooms.receivePdus(origin, pdus)),
    start: () => rooms.start(),
    close: () => rooms.close(),
  };
}
