// Sync filters: a user uploads and reads back their own filters only.
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ServerContext } from "../context.js";
import { forbidden, notFound, notJson } from "../errors.js";
import { requireSession } from "../http/auth.js";
import type { Session } from "../auth/sessions.js";
import { getFilter, parseFilter, storeFilter } from "../services/filters.js";

async function requireSelf(ctx: ServerContext, request: FastifyRequest, userId: string): Promise<Session> {
  const session = await requireSession(ctx, request);
  if (session.userId !== userId) throw forbidden("You may use only your own filters");
  return session;
}

export function filterRoutes(api: FastifyInstance, ctx: ServerContext): void {
  api.post<{ Params: { userId: string } }>("/user/:userId/filter", async (request) => {
    const { userId } = await requireSelf(ctx, request, request.params.userId);
    if (request.body === undefined) throw notJson("The filter must be a JSON object");
    return { filter_id: await storeFilter(ctx, userId, parseFilter(request.body)) };
  });

  api.get<{ Params: { userId: string; filterId: string } }>(
    "/user/:userId/filter/:filterId",
    async (request) => {
      const { userId } = await requireSelf(ctx, request, request.params.userId);
      const filter = await getFilter(ctx, userId, request.params.filterId);
      if (filter === undefined) throw notFound("No such filter");
      return filter;
    },
  );
}
