// The federation HTTPS listener (federation.tls_cert / tls_key, port federation.port, 8448 by
// default): the same Fastify app, reached through its router, but only for the federation and
// key APIs; clients keep using the main listener.
import { readFileSync } from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { FastifyInstance } from "fastify";
import type { FederationConfig } from "../../config.js";
import { answerClientError } from "../../http/clientErrors.js";
import { limitRequestTime } from "../../http/requestTimeouts.js";
import { FEDERATION_PREFIX } from "./router.js";

const SERVED_PREFIXES = [FEDERATION_PREFIX, "/_matrix/key/"];

export interface TlsListener {
  /** For instance https://0.0.0.0:8448. */
  readonly url: string;
  close(): Promise<void>;
}

/** Starts listening once `app` is ready (its routes registered). */
export async function startTlsListener(
  app: FastifyInstance,
  tls: NonNullable<FederationConfig["tls"]>,
  /** limits.body_timeout_ms: headers and body must arrive within it, as on the main listener. */
  requestTimeoutMs: number,
): Promise<TlsListener> {
  await app.ready();
  const server = https.createServer(
    { cert: readFileSync(tls.certFile), key: readFileSync(tls.keyFile) },
    (request, response) => {
      if (SERVED_PREFIXES.some((prefix) => request.url?.startsWith(prefix))) {
        app.routing(request, response);
        return;
      }
      response.writeHead(404, { "content-type": "application/json" });
      response.end(
        JSON.stringify({ errcode: "M_UNRECOGNIZED", error: "Only the federation API is served here" }),
      );
    },
  );
  limitRequestTime(server, requestTimeoutMs);
  // Malformed requests, oversized headers and timeouts get Matrix error bodies, as on the main listener.
  server.on("clientError", answerClientError.bind(app));
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(tls.port, tls.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `https://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
