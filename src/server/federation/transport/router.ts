// The FederationRouter: every route under /_matrix/federation is reached only after X-Matrix
// verification, then a per-origin rate limit (peers share addresses, loopback above all, so the
// client API's limiter keyed by token or address must not apply to them).
import type { FastifyInstance } from "fastify";
import { limitExceeded, MatrixError } from "../../errors.js";
import { RateLimiter } from "../../http/rateLimiter.js";
import type { FederationRouter } from "../types.js";
import { authenticateRequest, type RequestAuthDeps } from "./requestAuth.js";

export const FEDERATION_PREFIX = "/_matrix/federation/";

export interface FederationRouterOptions extends RequestAuthDeps {
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /** Larger than the client API's: a transaction holds up to 50 PDUs of 64 KiB and 100 EDUs. */
  readonly maxBodyBytes: number;
  /** Called with each verified origin: a peer that talks to us is up (the outbound queue retries it). */
  readonly onVerifiedOrigin?: (origin: string) => void;
}

export function createFederationRouter(
  app: FastifyInstance,
  options: FederationRouterOptions,
): FederationRouter {
  const limiter = new RateLimiter(options.requestsPerSecond, options.requestBurst, options.clock);
  return (method, path, handler) => {
    if (!path.startsWith(FEDERATION_PREFIX))
      throw new Error(`federation route ${path} is not under ${FEDERATION_PREFIX}`);
    app.route({
      method,
      url: path,
      bodyLimit: options.maxBodyBytes,
      handler: async (request) => {
        let origin: string | undefined;
        try {
          origin = await authenticateRequest(request, options);
          const wait = limiter.take(origin);
          if (wait > 0) throw limitExceeded(wait);
          options.onVerifiedOrigin?.(origin);
          // Fastify never answers an async handler that resolves to undefined: send {} instead.
          return (await handler(request, origin)) ?? {};
        } catch (error) {
          // Every refusal of a peer is logged with why (issue 5: hostile peers leave a trace).
          if (error instanceof MatrixError && error.status < 500) {
            request.log.warn(
              { origin, path: request.url.split("?")[0], errcode: error.errcode },
              `refused federation request: ${error.message}`,
            );
          }
          throw error;
        }
      },
    });
  };
}
