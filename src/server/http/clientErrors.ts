// Requests Node's HTTP parser refuses before Fastify sees them (headers or URL over Node's
// --max-http-header-size, 16 KiB by default: 431; timeouts: 408; malformed HTTP: 400) are answered
// with Matrix error bodies, like every other failure, instead of Fastify's own JSON.
import { STATUS_CODES } from "node:http";
import type { Socket } from "node:net";
import type { FastifyInstance } from "fastify";
import { MatrixError } from "../errors.js";

function matrixErrorOf(code: string | undefined): MatrixError {
  switch (code) {
    case "HPE_HEADER_OVERFLOW":
      return new MatrixError(431, "M_TOO_LARGE", "The request line and headers are too large");
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return new MatrixError(408, "M_UNKNOWN", "The request was not received in time");
    default:
      return new MatrixError(400, "M_UNKNOWN", "Malformed HTTP request");
  }
}

/** Fastify's clientErrorHandler: answers once if the socket can still take it, then closes it. */
export function answerClientError(
  this: FastifyInstance,
  error: Error & { code?: string },
  socket: Socket,
): void {
  // A reset connection has nobody left to answer.
  if (error.code === "ECONNRESET" || socket.destroyed) return;
  const matrix = matrixErrorOf(error.code);
  this.log.debug({ err: error }, "refused a malformed HTTP request");
  if (socket.writable) {
    const body = JSON.stringify(matrix.toJSON());
    socket.write(
      `HTTP/1.1 ${matrix.status} ${STATUS_CODES[matrix.status]}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}
