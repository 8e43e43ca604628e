// What the request logs say. Paths name rooms and users, so at info level a request is logged by
// its route pattern (`/_matrix/client/v3/rooms/:roomId/send/:eventType/:txnId`); the full URL only
// at debug or trace, and even then with every secret query value blanked. Bodies are never logged.
import type { FastifyRequest } from "fastify";
import type { ServerConfig } from "../config.js";

// A query parameter whose name (once decoded) mentions one of these carries a secret: the
// access_token of legacy clients, the registration token of the validity check.
const SECRET_NAME = /token|password|secret/i;

function decodedName(raw: string): string | undefined {
  try {
    return decodeURIComponent(raw.replace(/\+/g, " "));
  } catch {
    return undefined;
  }
}

/**
 * The URL with the value of every secret query parameter blanked. Names are judged after
 * percent-decoding, as the query parser reads them (`?%61ccess_token=` is an access token);
 * a name that does not decode is blanked too.
 */
export function redactUrl(url: string): string {
  const question = url.indexOf("?");
  if (question < 0) return url;
  const query = url
    .slice(question + 1)
    .split("&")
    .map((part) => {
      const equals = part.indexOf("=");
      const rawName = equals < 0 ? part : part.slice(0, equals);
      const name = decodedName(rawName);
      return name === undefined || SECRET_NAME.test(name) ? `${rawName}=<redacted>` : part;
    });
  return `${url.slice(0, question)}?${query.join("&")}`;
}

interface LoggedRequest {
  readonly method: string;
  readonly url: string;
  readonly ip?: string;
  readonly routeOptions?: { readonly url?: string };
}

/** The logger options of the HTTP app. */
export function requestLoggerOptions(logLevel: ServerConfig["logLevel"]) {
  const fullUrls = logLevel === "debug" || logLevel === "trace";
  return {
    level: logLevel,
    redact: ["req.headers.authorization"],
    serializers: {
      req: (req: LoggedRequest | FastifyRequest) => ({
        method: req.method,
        url: fullUrls ? redactUrl(req.url) : (req.routeOptions?.url ?? "(no route)"),
        ip: req.ip,
      }),
    },
  };
}
