// GET /_matrix/federation/v1/version: which server software this is. It needs no authentication
// (Matrix spec), which makes it the cheap request other servers probe us with while they owe us
// transactions and could not reach us (issue 16).
import type { FastifyInstance } from "fastify";

export const SERVER_VERSION = { server: { name: "Myelin", version: "0.1.0" } } as const;

export function versionRoute(app: FastifyInstance): void {
  app.get("/_matrix/federation/v1/version", async () => SERVER_VERSION);
}
