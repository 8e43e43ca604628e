// HTTP exchanges with other servers over node:http and node:https directly (not fetch), because
// federation needs what fetch hides: the connection address apart from the Host header and the
// certificate name (SRV and .well-known delegation), a DNS check for the plain-HTTP policy, a
// hard limit on answer sizes, and kept-alive connections per peer.
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import type { PlainHttpPolicy } from "../../config.js";
import { plainHttpLookup, PlainHttpRefused } from "./plainHttp.js";

/** Where and how to reach a server: discovery's answer. */
export interface HttpTarget {
  /** `https://host:port` or `http://host:port`: the address to connect to. */
  readonly url: string;
  /** The Host header (the server name, or the delegated name). */
  readonly hostHeader: string;
  /** The name the TLS certificate must carry, when it differs from the connection host. */
  readonly tlsServerName?: string;
}

export type TransportFailure = "plain-http-refused" | "timeout" | "too-large" | "unreachable" | "aborted";

export class TransportError extends Error {
  override readonly name = "TransportError";
  constructor(
    readonly failure: TransportFailure,
    message: string,
  ) {
    super(message);
  }
}

export interface HttpExchange {
  readonly method: string;
  /** Path and query, already encoded. */
  readonly path: string;
  readonly headers?: Readonly<Record<string, string>>;
  /** A JSON body. */
  readonly body?: string;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface HttpTransport {
  /** Throws TransportError when no complete answer arrives; any HTTP status is an answer. */
  send(target: HttpTarget, exchange: HttpExchange): Promise<HttpResponse>;
  close(): void;
}

export interface HttpTransportOptions {
  readonly allowPlainHttp: PlainHttpPolicy;
  /** Extra trusted CA certificates (PEM), added to Node's bundled roots. */
  readonly extraCa?: string;
}

export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const httpsAgent = new https.Agent({
    keepAlive: true,
    maxSockets: 16,
    ...(options.extraCa !== undefined ? { ca: [...rootCertificates, options.extraCa] } : {}),
  });
  return {
    send: (target, exchange) => send(target, exchange, options.allowPlainHttp, httpAgent, httpsAgent),
    close: () => {
      httpAgent.destroy();
      httpsAgent.destroy();
    },
  };
}

function send(
  target: HttpTarget,
  exchange: HttpExchange,
  policy: PlainHttpPolicy,
  httpAgent: http.Agent,
  httpsAgent: https.Agent,
): Promise<HttpResponse> {
  const base = new URL(target.url);
  const secure = base.protocol === "https:";
  const host = base.hostname.replace(/^\[|\]$/g, "");
  let lookup;
  try {
    lookup = secure ? undefined : plainHttpLookup(policy, host);
  } catch (error) {
    return Promise.reject(asTransportError(error));
  }
  const headers: Record<string, string | number> = { ...exchange.headers, host: target.hostHeader };
  if (exchange.body !== undefined) {
    headers["content-type"] = "application/json";
    headers["content-length"] = Buffer.byteLength(exchange.body);
  }
  const requestOptions: https.RequestOptions = {
    method: exchange.method,
    host,
    port: base.port === "" ? (secure ? 443 : 80) : Number(base.port),
    path: exchange.path,
    headers,
    agent: secure ? httpsAgent : httpAgent,
    ...(lookup !== undefined ? { lookup } : {}),
    ...(secure && target.tlsServerName !== undefined ? { servername: target.tlsServerName } : {}),
  };
  return new Promise<HttpResponse>((resolve, reject) => {
    const request = (secure ? https : http).request(requestOptions);
    // The promise is settled here; the connection is destroyed without the error, which
    // would otherwise reach a kept-alive socket the agent already holds and has no listener for.
    const fail = (error: TransportError) => {
      done();
      reject(error);
      request.destroy();
    };
    const timer = setTimeout(
      () => fail(new TransportError("timeout", `no complete answer within ${exchange.timeoutMs} ms`)),
      exchange.timeoutMs,
    );
    const onAbort = () => fail(new TransportError("aborted", "request aborted"));
    exchange.signal?.addEventListener("abort", onAbort, { once: true });
    function done() {
      clearTimeout(timer);
      exchange.signal?.removeEventListener("abort", onAbort);
    }
    request.on("error", (error) => {
      done();
      reject(asTransportError(error));
    });
    request.on("response", (response) => {
      response.on("error", () => undefined); // the request's error handler reports it
      const declared = Number(response.headers["content-length"] ?? 0);
      if (declared > exchange.maxResponseBytes) {
        fail(tooLarge(exchange.maxResponseBytes));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on("data", (chunk: Buffer) => {
        size += chunk.length;
        if (size > exchange.maxResponseBytes) fail(tooLarge(exchange.maxResponseBytes));
        else chunks.push(chunk);
      });
      response.on("end", () => {
        done();
        resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks) });
      });
    });
    if (exchange.signal?.aborted) onAbort();
    request.end(exchange.body);
  });
}

function tooLarge(limit: number): TransportError {
  return new TransportError("too-large", `answer larger than ${limit} bytes`);
}

function asTransportError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  if (error instanceof PlainHttpRefused) return new TransportError("plain-http-refused", error.message);
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  return new TransportError(
    "unreachable",
    code !== undefined && !message.includes(code) ? `${code}: ${message}` : message,
  );
}
