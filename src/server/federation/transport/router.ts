// The FederationRouter: every route under /_matrix/federation is reached only after X-Matrix
// verification, then a per-origin rate limit (peers share addresses, loopback above all, so the
// client API's limiter keyed by token or address must not apply to them).
//
// The header is checked before the body is read (issue 9, defect 5): a request without a valid
// header naming us and a known key of its origin is answered at once and its connection closed,
// so no stranger makes us read, hold or wait for a body. Such requests (and bodies whose
// signature fails) are limited per address: they are the only trace a stranger leaves.
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { limitExceeded, MatrixError } from "../../errors.js";
import { RateLimiter } from "../../rateLimiter.js";
import type { FederationRouter } from "../../federationTypes.js";
import { checkHeader, verifySignature, type CheckedHeader, type RequestAuthDeps } from "./requestAuth.js";

export const FEDERATION_PREFIX = "/_matrix/federation/";

export interface FederationRouterOptions extends RequestAuthDeps {
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /** Per address, for requests that fail authentication. */
  readonly unauthenticatedRequestsPerSecond: number;
  readonly unauthenticatedRequestBurst: number;
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
  const strangers = new RateLimiter(
    options.unauthenticatedRequestsPerSecond,
    options.unauthenticatedRequestBurst,
    options.clock,
  );
  const headers = new WeakMap<FastifyRequest, CheckedHeader>();

  /** Every refusal of a peer is logged with why (issue 5: hostile peers leave a trace). */
  const logRefusal = (request: FastifyRequest, origin: string | undefined, error: MatrixError) =>
    request.log.warn(
      { origin, ip: request.ip, path: request.url.split("?")[0], errcode: error.errcode },
      `refused federation request: ${error.message}`,
    );

  /** A failed authentication costs its address a token; past the burst it is 429 instead of 401. */
  const strangerError = (request: FastifyRequest, error: MatrixError): MatrixError => {
    const wait = strangers.take(request.ip);
    return wait > 0 ? limitExceeded(wait) : error;
  };

  return (method, path, handler) => {
    if (!path.startsWith(FEDERATION_PREFIX))
      throw new Error(`federation route ${path} is not under ${FEDERATION_PREFIX}`);
    app.route({
      method,
      url: path,
      bodyLimit: options.maxBodyBytes,
      onRequest: async (request: FastifyRequest, reply: FastifyReply) => {
        try {
          headers.set(request, await checkHeader(request, options));
        } catch (error) {
          if (!(error instanceof MatrixError)) throw error;
          logRefusal(request, undefined, error);
          const answer = strangerError(request, error);
          // Answered before the body is read; closing the connection means it is never read.
          void reply.header("connection", "close");
          if (answer.status === 429)
            void reply.header("retry-after", Math.ceil(Number(answer.extra.retry_after_ms) / 1000));
          return reply.code(answer.status).send(answer.toJSON());
        }
      },
      handler: async (request) => {
        const header = headers.get(request) as CheckedHeader;
        let origin: string;
        try {
          origin = verifySignature(request, header, options);
        } catch (error) {
          if (!(error instanceof MatrixError)) throw error;
          logRefusal(request, header.origin, error);
          throw strangerError(request, error);
        }
        try {
          const wait = limiter.take(origin);
          if (wait > 0) throw limitExceeded(wait);
          options.onVerifiedOrigin?.(origin);
          // Fastify never answers an async handler that resolves to undefined: send {} instead.
          return (await handler(request, origin)) ?? {};
        } catch (error) {
          if (error instanceof MatrixError && error.status < 500) logRefusal(request, origin, error);
          throw error;
        }
      },
    });
  };
}
