// A test-side federation peer (issue 5, "Hostile peers"): a loopback HTTP server with its own
// Ed25519 key, published self-signed at /_matrix/key/v2/server so that the server under test can
// fetch it, which records every request it gets and accepts every transaction sent to it. It
// signs PDUs (well-formed or deliberately broken) and sends X-Matrix signed requests.
import { randomBytes } from "node:crypto";
import BetterSqlite3 from "better-sqlite3";
import { nodeCrypto, nodeSigner } from "../../src/platform/nodeCrypto.js";
import { encodeBase64 } from "../../src/protocol/base64.js";
import type { Ed25519Signer } from "../../src/protocol/crypto.js";
import { signPdu, type SignedPdu } from "../../src/protocol/pdu/signing.js";
import type { UnsignedPdu } from "../../src/protocol/pdu/types.js";
import { signJson } from "../../src/protocol/signedJson.js";
import {
  json,
  signedRequest,
  startHttpServer,
  transaction,
  type SignedRequestOptions,
} from "../server/federation/federationPeer.js";
import type { Reply } from "./http.js";
import type { ServerProcess } from "./serverProcess.js";

export const peerCrypto = nodeCrypto();

/** An Ed25519 signer with a fresh random key under `keyId`. */
export function randomSigner(keyId: string): Ed25519Signer & { publicKey: Uint8Array } {
  return nodeSigner(keyId, new Uint8Array(randomBytes(32)));
}

export interface SendReply {
  readonly pdus?: Record<string, { error?: string }>;
  readonly errcode?: string;
  readonly error?: string;
}

export interface TestPeer {
  /** `localhost:<port>`: pin it to http://127.0.0.1:<port> on the server under test. */
  readonly serverName: string;
  readonly port: number;
  readonly signer: Ed25519Signer & { publicKey: Uint8Array };
  /** The PDUs of every transaction other servers sent to this peer, in arrival order. */
  receivedPdus(): Record<string, unknown>[];
  /** `event` with its content hash and this peer's signature. */
  sign(event: UnsignedPdu): SignedPdu;
  /** `PUT /send/{txn}` of `pdus` to `target` in a new transaction, X-Matrix signed. */
  send(target: ServerProcess, pdus: unknown[]): Promise<Reply<SendReply>>;
  /** Any federation request to `target`, X-Matrix signed as this peer. */
  request<T = Record<string, unknown>>(
    target: ServerProcess,
    method: "GET" | "PUT" | "POST",
    path: string,
    body?: unknown,
  ): Promise<Reply<T>>;
  close(): Promise<void>;
}

let txnCounter = 0;

/** A peer on a free loopback port; it answers its key, /send with 200, and 404 otherwise. */
export async function startTestPeer(): Promise<TestPeer> {
  const signer = randomSigner("ed25519:peer");
  let serverName = "";
  const http = await startHttpServer((request, _body, response) => {
    const path = (request.url ?? "").split("?")[0] ?? "";
    if (request.method === "GET" && path.startsWith("/_matrix/key/v2/server")) {
      const keys = {
        server_name: serverName,
        valid_until_ts: Date.now() + 24 * 3_600_000,
        verify_keys: { [signer.keyId]: { key: encodeBase64(signer.publicKey) } },
        old_verify_keys: {},
      };
      json(response, 200, signJson(keys, serverName, signer));
    } else if (request.method === "PUT" && path.startsWith("/_matrix/federation/v1/send/")) {
      json(response, 200, { pdus: {} });
    } else {
      json(response, 404, { errcode: "M_NOT_FOUND", error: "this test peer does not serve that" });
    }
  });
  serverName = `localhost:${http.port}`;
  const signedAs = (target: ServerProcess, body: unknown): SignedRequestOptions => ({
    origin: serverName,
    destination: target.serverName,
    signer,
    body,
  });
  return {
    serverName,
    port: http.port,
    signer,
    receivedPdus: () =>
      http.requests
        .filter((r) => r.method === "PUT" && r.url.startsWith("/_matrix/federation/v1/send/"))
        .flatMap((r) => (JSON.parse(r.body) as { pdus?: Record<string, unknown>[] }).pdus ?? []),
    sign: (event) => signPdu(event, signer, peerCrypto),
    send: (target, pdus) =>
      signedRequest<SendReply>(
        target.url,
        "PUT",
        `/_matrix/federation/v1/send/hostile${++txnCounter}`,
        signedAs(target, transaction(serverName, pdus)),
      ),
    request: (target, method, path, body) => signedRequest(target.url, method, path, signedAs(target, body)),
    close: () => http.close(),
  };
}

/** Rows of a running server's SQLite database, read-only alongside it (WAL). */
export function sqliteRows<T>(database: string, sql: string, params: unknown[] = []): T[] {
  const db = new BetterSqlite3(database, { readonly: true, fileMustExist: true });
  try {
    return db.prepare(sql).all(...params) as T[];
  } finally {
    db.close();
  }
}

/** The JSON log lines a server process wrote (pino), parsed; other lines are skipped. */
export function logEntries(server: ServerProcess): Record<string, unknown>[] {
  return server
    .logs()
    .split("\n")
    .flatMap((text) => {
      if (!text.startsWith("{")) return [];
      try {
        return [JSON.parse(text) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
}

/** Waits up to `ms` for a log entry of `server` that `match` accepts; returns it or undefined. */
export async function waitForLog(
  server: ServerProcess,
  match: (entry: Record<string, unknown>) => boolean,
  ms = 3_000,
): Promise<Record<string, unknown> | undefined> {
  const deadline = Date.now() + ms;
  for (;;) {
    const found = logEntries(server).find(match);
    if (found !== undefined || Date.now() > deadline) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits for a log entry of `server` that says `text` in any of its fields (a refusal's reason). */
export function waitForLogSaying(
  server: ServerProcess,
  text: string,
): Promise<Record<string, unknown> | undefined> {
  const escaped = JSON.stringify(text).slice(1, -1);
  return waitForLog(server, (entry) => JSON.stringify(entry).includes(escaped));
}
