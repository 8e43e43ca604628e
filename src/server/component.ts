// A server component: its schema and its routes. components.ts lists them all.
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "./context.js";
import type { Migrations } from "./storage/database.js";

export interface ServerComponent {
  readonly name: string;
  readonly migrations?: Migrations;
  /** Registers client-server API routes; `api` is already under /_matrix/client/{v3,r0}. */
  readonly clientRoutes?: (api: FastifyInstance, ctx: ServerContext) => void;
  /** Registers routes outside the client API prefix (for instance /_matrix/client/versions). */
  readonly rootRoutes?: (app: FastifyInstance, ctx: ServerContext) => void;
}
