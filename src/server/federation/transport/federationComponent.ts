// How a component takes part in federation: routes under /_matrix/federation (reached only by
// X-Matrix signed requests), handlers of what inbound transactions carry, and a start and stop
// with the server. components.ts lists these components beside the others; server.ts wires them.
import type { FastifyInstance } from "fastify";
import type { ServerComponent } from "../../component.js";
import type { ServerContext } from "../../context.js";
import type { FederationRouter } from "../../federationTypes.js";
import type { TransactionHandlers } from "./inboundTransactions.js";
import { keyRoutes } from "./serverKeys.js";
import { transportMigrations } from "./schema.js";
import { versionRoute } from "./serverVersion.js";

/** What a component's federation part does, made once per server from its context. */
export interface FederationParticipant {
  routes?(router: FederationRouter, app: FastifyInstance): void;
  /** Registers the PDU handler or EDU handlers of `PUT /_matrix/federation/v1/send/{txnId}`. */
  registerHandlers?(handlers: TransactionHandlers): void;
  /** Called once the server listens. */
  start?(): void;
  /** Called on shutdown, after the listener closed and before the database closes. */
  close?(): Promise<void>;
}

export interface FederationComponent extends ServerComponent {
  readonly federation?: (ctx: ServerContext) => FederationParticipant;
}

/** Our keys at /_matrix/key/v2/server, /_matrix/federation/v1/version and the transport's tables. */
export const transportComponent: FederationComponent = {
  name: "federation_transport",
  migrations: transportMigrations,
  rootRoutes: (app, ctx) => {
    keyRoutes(app, {
      serverName: ctx.config.serverName,
      signingKey: ctx.signingKey,
      db: ctx.db,
      clock: ctx.clock,
    });
    versionRoute(app);
  },
};
