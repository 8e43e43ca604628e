// GET /sync: long-poll with timeout, since tokens (stream positions), inline or stored filters.
import type { FastifyRequest } from "fastify";
import type { ServerComponent } from "../component.js";
import type { ServerContext } from "../context.js";
import { MatrixError, badJson, invalidParam } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { parseRequestJson } from "../http/strictJson.js";
import { computeSync, type SyncPart } from "../services/sync.js";
import { parseSyncFilter, type SyncFilter } from "../services/syncFilter.js";
import { parseToken } from "./rooms.js";

const MAX_TIMEOUT_MS = 120_000;

export interface SyncOptions {
  readonly parts: readonly SyncPart[];
  /** Runs once per request with its `since`, before any part: what the client proves it holds. */
  readonly acknowledge: (
    ctx: ServerContext,
    input: { userId: string; deviceId: string; since: number },
  ) => Promise<void>;
  /** Resolves a stored filter ID of the user, or undefined. */
  readonly storedFilter: (
    ctx: ServerContext,
    userId: string,
    filterId: string,
  ) => Promise<Record<string, unknown> | undefined>;
}

async function filterOf(
  ctx: ServerContext,
  userId: string,
  raw: string | undefined,
  options: SyncOptions,
): Promise<SyncFilter> {
  if (raw === undefined || raw === "") return parseSyncFilter({});
  if (raw.trimStart().startsWith("{")) {
    // Read as strictly as a body (no __proto__ keys, NULs or deep nesting).
    let definition: unknown;
    try {
      definition = parseRequestJson(raw);
    } catch (error) {
      if (error instanceof MatrixError && error.errcode === "M_NOT_JSON")
        throw badJson("filter is not valid JSON");
      throw error;
    }
    return parseSyncFilter(definition);
  }
  const stored = await options.storedFilter(ctx, userId, raw);
  if (stored === undefined) throw invalidParam(`Unknown filter ${raw}`);
  return parseSyncFilter(stored);
}

function abortOnClose(request: FastifyRequest): AbortSignal {
  const controller = new AbortController();
  request.raw.once("close", () => controller.abort());
  return controller.signal;
}

export function syncComponent(options: SyncOptions): ServerComponent {
  return {
    name: "sync",
    clientRoutes: (api, ctx) => {
      api.get("/sync", async (request) => {
        const session = await requireSession(ctx, request);
        const q = request.query as Record<string, string | undefined>;
        const since = q.since === undefined || q.since === "" ? undefined : parseToken(q.since);
        // Every token this server gave out is at most its committed position: a later one was
        // made up, and echoing it back would make the client skip everything up to it.
        if (since !== undefined && since > ctx.db.committedPosition) {
          throw invalidParam(`since ${since} is ahead of this server's stream`);
        }
        const timeout = q.timeout === undefined ? 0 : Number(q.timeout);
        if (!Number.isFinite(timeout) || timeout < 0)
          throw invalidParam("timeout must be a non-negative number");
        const filter = await filterOf(ctx, session.userId, q.filter, options);
        const input = { ...session, since, fullState: q.full_state === "true", filter };
        const deadline = ctx.clock.now() + Math.min(timeout, MAX_TIMEOUT_MS);
        const signal = abortOnClose(request);
        if (since !== undefined) await options.acknowledge(ctx, { ...session, since });
        let wakes = ctx.notifier.wakeCount(session.userId);
        let upto = ctx.db.committedPosition;
        let result = await computeSync(ctx, input, upto, options.parts);
        while (since !== undefined && result.empty && !signal.aborted && !ctx.notifier.isClosed) {
          const remaining = deadline - ctx.clock.now();
          if (remaining <= 0) break;
          // A wake-up during the computation shows in the count: compute again instead of sleeping.
          if (ctx.notifier.wakeCount(session.userId) === wakes) {
            await ctx.notifier.wait(session.userId, remaining, signal);
          }
          wakes = ctx.notifier.wakeCount(session.userId);
          upto = Math.max(ctx.db.committedPosition, upto);
          result = await computeSync(ctx, input, upto, options.parts);
        }
        return result.response;
      });
    },
  };
}
