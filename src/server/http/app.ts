// The HTTP edge: Fastify with Matrix error bodies for every failure (bad JSON, oversize bodies,
// unknown endpoints, floods, thrown MatrixErrors), CORS for browser clients, request limits, and
// logs without tokens or IDs (requestLog.ts).
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import { MatrixError, invalidParam, limitExceeded, notJson, tooLarge, unrecognized } from "../errors.js";
import type { ServerConfig } from "../config.js";
import type { Clock } from "../clock.js";
import type { Session } from "../auth/sessions.js";
import { answerClientError } from "./clientErrors.js";
import { RateLimiter } from "../rateLimiter.js";
import { redactUrl, requestLoggerOptions } from "./requestLog.js";
import { MAX_PATH_PARAM_LENGTH, checkRequestParams } from "./requestParams.js";
import { parseRequestBody } from "./strictJson.js";

/** The access token of a request: Authorization header first, then the legacy query parameter. */
export function accessToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header !== undefined) {
    const match = /^Bearer\s+(\S+)$/i.exec(header);
    return match?.[1] ?? "";
  }
  const query = request.query as Record<string, unknown> | undefined;
  return typeof query?.access_token === "string" ? query.access_token : undefined;
}

/** The session of a token when it is known without a database read (sessions.ts cache). */
export type CachedSession = (token: string | undefined) => Session | undefined;

export function createHttpApp(
  config: ServerConfig,
  clock: Clock,
  cachedSession: CachedSession = () => undefined,
): FastifyInstance {
  const app = Fastify({
    bodyLimit: config.limits.maxBodyBytes,
    logger: requestLoggerOptions(config.logLevel),
    // Matrix IDs contain ':' and '@'; keep the router from splitting on them.
    routerOptions: { maxParamLength: MAX_PATH_PARAM_LENGTH },
    // Failures Fastify and Node answer before any route or hook: Matrix bodies for them too.
    frameworkErrors: (error, _request, reply) => {
      const matrix =
        error.code === "FST_ERR_MAX_PARAM_LENGTH"
          ? new MatrixError(
              414,
              "M_TOO_LARGE",
              `A path segment is longer than ${MAX_PATH_PARAM_LENGTH} characters`,
            )
          : error.code === "FST_ERR_BAD_URL"
            ? invalidParam("The path is not validly percent-encoded UTF-8")
            : new MatrixError(error.statusCode ?? 500, "M_UNKNOWN", error.message);
      void (reply as FastifyReply)
        .code(matrix.status)
        .header("Access-Control-Allow-Origin", "*")
        .send(matrix.toJSON());
    },
    clientErrorHandler: answerClientError,
  });

  // Every body is JSON in the client-server API, whatever Content-Type a client sends; one strict
  // reader for all of them (http/strictJson.ts says what it refuses).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_request, body, done) => {
    try {
      done(null, parseRequestBody(body as Buffer));
    } catch (error) {
      done(error as Error, undefined);
    }
  });
  // Path and query parameters: no NUL or unpaired surrogate reaches a route (http/requestParams.ts).
  app.addHook("preValidation", async (request) => {
    checkRequestParams(request.params, request.query);
  });

  const limiter = new RateLimiter(config.limits.requestsPerSecond, config.limits.requestBurst, clock);
  app.addHook("onRequest", async (request, reply) => {
    reply.header("Access-Control-Allow-Origin", "*");
    reply.header("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS");
    reply.header("Access-Control-Allow-Headers", "X-Requested-With, Content-Type, Authorization");
    if (request.method === "OPTIONS") return reply.code(204).send();
    // Other servers are limited per verified origin by the federation router (they share
    // addresses, loopback above all); the key API answers from a cache.
    if (isServerServerPath(request.url)) return;
    // Only a token that authenticates has a bucket of its own: any other (made up, revoked,
    // missing) counts against the address, or a fresh random token per request would be a
    // fresh bucket. The session cache answers without a database read; a valid token not yet
    // cached (first request after a restart) counts once against the address.
    const session = cachedSession(accessToken(request));
    const key =
      session === undefined
        ? `address\u0000${request.ip}`
        : `session\u0000${session.userId}\u0000${session.deviceId}`;
    const wait = limiter.take(key);
    if (wait > 0) throw limitExceeded(wait);
  });

  app.setNotFoundHandler((request, reply) => {
    const error = unrecognized(
      `Unrecognized request: ${request.method} ${redactUrl(request.url).split("?")[0]}`,
    );
    void reply.code(404).send(error.toJSON());
  });

  app.setErrorHandler((error: Error & { code?: string; statusCode?: number }, request, reply) => {
    let matrix: MatrixError;
    if (error instanceof MatrixError) matrix = error;
    else if (error.code === "FST_ERR_CTP_BODY_TOO_LARGE")
      matrix = tooLarge(request.routeOptions.bodyLimit ?? config.limits.maxBodyBytes);
    else if (
      error.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE" ||
      error.code === "FST_ERR_CTP_EMPTY_JSON_BODY"
    ) {
      matrix = notJson();
    } else if (error.statusCode !== undefined && error.statusCode < 500) {
      matrix = new MatrixError(error.statusCode, "M_BAD_JSON", error.message);
    } else {
      request.log.error({ err: error }, "request failed");
      matrix = new MatrixError(500, "M_UNKNOWN", "Internal server error");
    }
    if (matrix.status === 429)
      void reply.header("Retry-After", Math.ceil(Number(matrix.extra.retry_after_ms) / 1000));
    void reply.code(matrix.status).send(matrix.toJSON());
  });
  return app;
}

/** The federation and key APIs, which other servers call. */
export function isServerServerPath(url: string): boolean {
  return url.startsWith("/_matrix/federation/") || url.startsWith("/_matrix/key/");
}

/** Registers `register` under the client-server API's current and legacy prefixes. */
export function clientApi(app: FastifyInstance, register: (api: FastifyInstance) => void): void {
  for (const prefix of ["/_matrix/client/v3", "/_matrix/client/r0"]) {
    void app.register(async (api) => register(api), { prefix });
  }
}
