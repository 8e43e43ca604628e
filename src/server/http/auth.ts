// Authenticates a client request by its access token.
import type { FastifyRequest } from "fastify";
import type { ServerContext } from "../context.js";
import type { Session } from "../auth/sessions.js";
import { accessToken } from "./app.js";

export function requireSession(ctx: ServerContext, request: FastifyRequest): Promise<Session> {
  return ctx.sessions.authenticate(accessToken(request));
}
