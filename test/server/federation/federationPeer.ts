// Helpers for federation tests: act as another server (its signing key, X-Matrix signed
// requests), pin names to loopback addresses, read a test server's SQLite tables.
import BetterSqlite3 from "better-sqlite3";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import pg from "pg";
import type { Ed25519Signer } from "../../../src/protocol/crypto.js";
import { xMatrixAuthorization } from "../../../src/server/federation/transport/xMatrix.js";
import { loadOrCreateSigningKey, type ServerSigningKey } from "../../../src/server/signingKey.js";
import type { Reply } from "../../helpers/http.js";
import type { Backend } from "../../helpers/serverProcess.js";

/** The signing key of a server whose data directory is `dataDir` (as its process loads it). */
export function serverSigner(dataDir: string): ServerSigningKey {
  return loadOrCreateSigningKey(dataDir);
}

/** MYELIN_FEDERATION_PINS for servers on loopback ports. */
export function pinsEnv(servers: readonly { serverName: string; port: number }[]): string {
  return servers.map((s) => `${s.serverName}=http://127.0.0.1:${s.port}`).join(",");
}

export interface SignedRequestOptions {
  readonly origin: string;
  readonly destination: string;
  readonly signer: Ed25519Signer;
  readonly body?: unknown;
  /** Replaces the Authorization header (null: none at all). */
  readonly authorization?: string | null;
}

/** A request to `baseUrl` signed with X-Matrix as `origin` would sign it. */
export async function signedRequest<T = Record<string, unknown>>(
  baseUrl: string,
  method: "GET" | "PUT" | "POST",
  path: string,
  options: SignedRequestOptions,
): Promise<Reply<T>> {
  const headers: Record<string, string> = {};
  const authorization =
    options.authorization !== undefined
      ? options.authorization
      : xMatrixAuthorization(
          {
            method,
            uri: path,
            origin: options.origin,
            destination: options.destination,
            content: options.body,
          },
          options.signer,
        );
  if (authorization !== null) headers.authorization = authorization;
  let body: string | undefined;
  if (options.body !== undefined) {
    body = JSON.stringify(options.body);
    headers["content-type"] = "application/json";
  }
  const response = await fetch(baseUrl + path, { method, headers, body });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : {}) as T };
}

/** A transaction body as `origin` sends it. */
export function transaction(
  origin: string,
  pdus: unknown[] = [],
  edus: unknown[] = [],
): Record<string, unknown> {
  return { origin, origin_server_ts: Date.now(), pdus, edus };
}

/** Rows of a running test server's database (SQLite read-only: WAL lets it read alongside). */
export async function databaseRows<T>(backend: Backend, database: string, sql: string): Promise<T[]> {
  if (backend === "postgres") {
    const client = new pg.Client({ connectionString: database });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }
  const db = new BetterSqlite3(database, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

export interface LocalHttpServer {
  readonly port: number;
  readonly url: string;
  /** Every request's method and URL, in arrival order. */
  readonly requests: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[];
  close(): Promise<void>;
}

/** A plain HTTP server on a free loopback port; `handler` answers after the body is read. */
export async function startHttpServer(
  handler: (request: IncomingMessage, body: string, response: ServerResponse) => void,
): Promise<LocalHttpServer> {
  const requests: LocalHttpServer["requests"] = [];
  const server = createServer((request, response) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      requests.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      handler(request, body, response);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** Answers `response` with JSON. */
export function json(
  response: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  response.writeHead(status, { "content-type": "application/json", ...headers });
  response.end(JSON.stringify(body));
}
