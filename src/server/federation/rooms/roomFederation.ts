// Room federation assembled: inbound PDUs, the routes that serve rooms and take remote invites,
// and the pending commit scheduler of power servers (sections 5-7).
import type { ServerContext } from "../../context.js";
import type { FederationRouter } from "../types.js";
import { RoomInbound } from "./inbound.js";
import { remoteInviteRoutes } from "./invites.js";
import { PendingCommitScheduler } from "./pendingCommits.js";
import { roomServingRoutes } from "./serve.js";

export interface RoomFederation {
  /** The /send transaction's PDU handler. */
  receivePdus(origin: string, pdus: readonly unknown[]): Promise<Record<string, { error?: string }>>;
  routes(router: FederationRouter): void;
  start(): void;
  close(): Promise<void>;
}

export function roomFederation(ctx: ServerContext): RoomFederation {
  const scheduler = new PendingCommitScheduler(ctx);
  const inbound = new RoomInbound(ctx, () => scheduler.poke());
  const serving = roomServingRoutes(ctx);
  const invites = remoteInviteRoutes(ctx, inbound);
  return {
    receivePdus: (origin, pdus) => inbound.receivePdus(origin, pdus),
    routes: (router) => {
      serving(router);
      invites(router);
    },
    start: () => scheduler.start(),
    close: () => scheduler.close(),
  };
}
