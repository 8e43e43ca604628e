// HTTP exchanges with other servers over node:http and node:https directly (not fetch), because
// federation needs what fetch hides: the connection address apart from the Host header and the
// certificate name (SRV and .well-known delegation), a check of every address connected to (the
// plain-HTTP policy; no private addresses unless pinned or allowed), a hard limit on answer
// sizes, and kept-alive connections per peer.
import http from "node:http";
import https from "node:https";
import { rootCertificates } from "node:tls";
import { isIP, type LookupFunction } from "node:net";
import type { PlainHttpPolicy } from "../../config.js";
import {
  AddressRefused,
  privateAddressCheck,
  type AddressCheck,
  type PrivateAddressSettings,
} from "./addressPolicy.js";
import { checkedLookup, refusal } from "./checkedLookup.js";
import { plainHttpCheck, PlainHttpRefused } from "./plainHttp.js";

/** Where and how to reach a server: discovery's answer. */
export interface HttpTarget {
  /** `https://host:port` or `http://host:port`: the address to connect to. */
  readonly url: string;
  /** The Host header (the server name, or the delegated name). */
  readonly hostHeader: string;
  /** The name the TLS certificate must carry, when it differs from the connection host. */
  readonly tlsServerName?: string;
  /** From federation.pins: the operator chose the address, so private addresses are fine. */
  readonly pinned?: boolean;
}

export type TransportFailure =
  "plain-http-refused" | "private-address-refused" | "timeout" | "too-large" | "unreachable" | "aborted";

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
  /** Private addresses are refused for targets that are not pinned, unless these allow them. */
  readonly privateAddresses?: PrivateAddressSettings;
}

interface Agents {
  readonly http: http.Agent;
  readonly https: https.Agent;
}

export function createHttpTransport(options: HttpTransportOptions): HttpTransport {
  const agents = (): Agents => ({
    http: new http.Agent({ keepAlive: true, maxSockets: 16 }),
    https: new https.Agent({
      keepAlive: true,
      maxSockets: 16,
      ...(options.extraCa !== undefined ? { ca: [...rootCertificates, options.extraCa] } : {}),
    }),
  });
  // Pinned targets keep their own connections: a kept-alive socket to a pinned private address
  // must never serve a request to a name that merely shares its host and port.
  const pinnedAgents = agents();
  const otherAgents = agents();
  const privateCheck = privateAddressCheck(options.privateAddresses);
  return {
    send: (target, exchange) =>
      send(
        target,
        exchange,
        options.allowPlainHttp,
        target.pinned === true ? undefined : privateCheck,
        target.pinned === true ? pinnedAgents : otherAgents,
      ),
    close: () => {
      for (const agent of [pinnedAgents, otherAgents]) {
        agent.http.destroy();
        agent.https.destroy();
      }
    },
  };
}

function send(
  target: HttpTarget,
  exchange: HttpExchange,
  policy: PlainHttpPolicy,
  privateCheck: AddressCheck | undefined,
  agents: Agents,
): Promise<HttpResponse> {
  const base = new URL(target.url);
  const secure = base.protocol === "https:";
  const host = base.hostname.replace(/^\[|\]$/g, "");
  let lookup: LookupFunction | undefined;
  try {
    const checks: AddressCheck[] = [];
    const plain = secure ? undefined : plainHttpCheck(policy, host);
    if (plain !== undefined) checks.push(plain);
    if (privateCheck !== undefined) checks.push(privateCheck);
    if (isIP(host) !== 0) {
      // An address literal is connected to as it is (Node does no lookup for it).
      const refused = refusal(checks, host);
      if (refused !== undefined) throw refused;
    } else if (checks.length > 0) {
      lookup = checkedLookup(checks);
    }
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
    agent: secure ? agents.https : agents.http,
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
  if (error instanceof AddressRefused) return new TransportError("private-address-refused", error.message);
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  return new TransportError(
    "unreachable",
    code !== undefined && !message.includes(code) ? `${code}: ${message}` : message,
  );
}
