// The federation transport in one process: the X-Matrix header, the /send shell behind the
// federation router (body checks, idempotency per origin and transaction ID, one transaction of
// an origin at a time, dispatch of PDUs and EDUs, per-origin rate limit), and the federation
// client's limits (answer size, timeout, errors of the peer).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeCrypto, nodeSigner } from "../../../src/platform/nodeCrypto.js";
import { loadConfig } from "../../../src/server/config.js";
import { createFederationClient } from "../../../src/server/federation/transport/federationClient.js";
import { createHttpTransport } from "../../../src/server/federation/transport/httpTransport.js";
import {
  createInboundTransactions,
  type InboundTransactions,
} from "../../../src/server/federation/transport/inboundTransactions.js";
import { createFederationRouter } from "../../../src/server/federation/transport/router.js";
import { transportMigrations } from "../../../src/server/federation/transport/schema.js";
import { parseXMatrix, xMatrixAuthorization } from "../../../src/server/federation/transport/xMatrix.js";
import { FederationRequestError, type Edu } from "../../../src/server/federationTypes.js";
import { createHttpApp } from "../../../src/server/http/app.js";
import type { Database } from "../../../src/server/storage/database.js";
import { openDatabase } from "../../../src/server/storage/open.js";
import { json, startHttpServer, transaction, type LocalHttpServer } from "./federationPeer.js";

const HERE = "here.test";
const signers = {
  "peer.test": nodeSigner("ed25519:peer", new Uint8Array(32).fill(1)),
  "other.test": nodeSigner("ed25519:other", new Uint8Array(32).fill(2)),
};
type Origin = keyof typeof signers;

describe("the X-Matrix header", () => {
  it("reads back what xMatrixAuthorization writes", () => {
    const signer = signers["peer.test"];
    const header = xMatrixAuthorization(
      { method: "GET", uri: "/_matrix/x", origin: "peer.test", destination: "[::1]:8448" },
      signer,
    );
    expect(parseXMatrix(header)).toMatchObject({
      origin: "peer.test",
      destination: "[::1]:8448",
      key: "ed25519:peer",
    });
  });

  it("accepts unquoted values, a lower-case scheme, spaces and escapes in quoted strings", () => {
    expect(parseXMatrix('x-matrix origin=a.test, key="ed25519:k" ,sig="s\\"ig",destination=b.test')).toEqual({
      origin: "a.test",
      key: "ed25519:k",
      sig: 's"ig',
      destination: "b.test",
    });
  });

  it("refuses another scheme, a missing sig, a repeated parameter and broken syntax", () => {
    expect(parseXMatrix('Bearer origin="a",key="k",sig="s"')).toBeUndefined();
    expect(parseXMatrix('X-Matrix origin="a",key="k"')).toBeUndefined();
    expect(parseXMatrix('X-Matrix origin="a",origin="b",key="k",sig="s"')).toBeUndefined();
    expect(parseXMatrix('X-Matrix origin="a,key="k",sig="s"')).toBeUndefined();
  });
});

describe("the /send shell behind the federation router", () => {
  let app: FastifyInstance;
  let db: Database;
  let dir: string;
  let inbound: InboundTransactions;
  const pduCalls: { origin: string; txn: unknown[] }[] = [];
  const eduCalls: Edu[] = [];
  let gate: Promise<void> | undefined;
  const events: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "myelin-transport-"));
    db = await openDatabase(join(dir, "t.db"), [transportMigrations]);
    const config = loadConfig({
      env: {
        MYELIN_SERVER_NAME: HERE,
        MYELIN_LOG_LEVEL: "silent",
        MYELIN_REQUESTS_PER_SECOND: "1",
        MYELIN_REQUEST_BURST: "2",
      },
    });
    const clock = { now: () => Date.now() };
    app = createHttpApp(config, clock);
    const router = createFederationRouter(app, {
      serverName: HERE,
      keys: {
        verifyKey: async (server, keyId) => {
          const signer = signers[server as Origin] as (typeof signers)[Origin] | undefined;
          return signer?.keyId === keyId ? signer.publicKey : undefined;
        },
      },
      crypto: nodeCrypto(),
      clock,
      requestsPerSecond: 1,
      requestBurst: 30,
      unauthenticatedRequestsPerSecond: 1,
      unauthenticatedRequestBurst: 5,
      maxBodyBytes: 4096,
    });
    inbound = createInboundTransactions({ db, clock, log: app.log });
    inbound.routes(router);
    inbound.registerPduHandler(async (origin, pdus) => {
      const label = (pdus[0] as { label?: string } | undefined)?.label ?? "";
      events.push(`start ${label}`);
      pduCalls.push({ origin, txn: [...pdus] });
      await gate;
      events.push(`end ${label}`);
      return Object.fromEntries(pdus.map((_, i) => [`$e${i}`, {}]));
    });
    inbound.registerEduHandler("m.test", async (_origin, edu) => {
      eduCalls.push(edu);
    });
    inbound.registerEduHandler("m.failing", async () => {
      throw new Error("this EDU handler fails");
    });
    await app.ready();
  });
  afterAll(async () => {
    await app.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function send(origin: Origin, txnId: string, body: unknown, signedBody = body) {
    const url = `/_matrix/federation/v1/send/${txnId}`;
    const authorization = xMatrixAuthorization(
      { method: "PUT", uri: url, origin, destination: HERE, content: signedBody },
      signers[origin],
    );
    const reply = await app.inject({
      method: "PUT",
      url,
      headers: { authorization, "content-type": "application/json" },
      payload: JSON.stringify(body),
    });
    return { status: reply.statusCode, body: reply.json<Record<string, unknown>>() };
  }

  it("hands the PDUs to the PDU handler and answers with its results", async () => {
    const reply = await send("peer.test", "t1", transaction("peer.test", [{ label: "a" }, { label: "b" }]));
    expect(reply).toEqual({ status: 200, body: { pdus: { $e0: {}, $e1: {} } } });
    expect(pduCalls.at(-1)).toEqual({ origin: "peer.test", txn: [{ label: "a" }, { label: "b" }] });
  });

  it("answers a repeated transaction ID from its store, without processing it again", async () => {
    const before = pduCalls.length;
    const reply = await send("peer.test", "t1", transaction("peer.test", [{ label: "a" }, { label: "b" }]));
    expect(reply).toEqual({ status: 200, body: { pdus: { $e0: {}, $e1: {} } } });
    expect(pduCalls.length).toBe(before);
  });

  it("keeps transaction IDs apart per origin", async () => {
    const before = pduCalls.length;
    expect((await send("other.test", "t1", transaction("other.test", [{ label: "o" }]))).status).toBe(200);
    expect(pduCalls.length).toBe(before + 1);
  });

  it("gives a retry that arrives during processing the same answer, processing once", async () => {
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const before = pduCalls.length;
    const body = transaction("peer.test", [{ label: "r" }]);
    const first = send("peer.test", "t2", body);
    const second = send("peer.test", "t2", body);
    await new Promise((resolve) => setTimeout(resolve, 50));
    open();
    gate = undefined;
    const replies = await Promise.all([first, second]);
    expect(replies[0]).toEqual(replies[1]);
    expect(pduCalls.length).toBe(before + 1);
  });

  it("processes one origin's transactions one at a time, in arrival order", async () => {
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    events.length = 0;
    const first = send("peer.test", "t3", transaction("peer.test", [{ label: "first" }]));
    await new Promise((resolve) => setTimeout(resolve, 20));
    const second = send("peer.test", "t4", transaction("peer.test", [{ label: "second" }]));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events).toEqual(["start first"]);
    open();
    gate = undefined;
    await Promise.all([first, second]);
    expect(events).toEqual(["start first", "end first", "start second", "end second"]);
  });

  it("hands each EDU to the handler of its type, ignores unknown types and survives a failing handler", async () => {
    const edus = [
      { edu_type: "m.failing", content: {} },
      { edu_type: "m.unknown", content: { x: 1 } },
      { edu_type: "m.test", content: { n: 1 } },
    ];
    const reply = await send("peer.test", "t5", transaction("peer.test", [], edus));
    expect(reply).toEqual({ status: 200, body: { pdus: {} } });
    expect(eduCalls).toEqual([{ edu_type: "m.test", content: { n: 1 } }]);
  });

  it("refuses a transaction whose origin is not the signing server with 403", async () => {
    const reply = await send("peer.test", "t6", transaction("other.test"));
    expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
  });

  it("refuses more than 50 PDUs with 400 M_BAD_JSON", async () => {
    const reply = await send(
      "other.test",
      "t7",
      transaction(
        "other.test",
        Array.from({ length: 51 }, () => ({})),
      ),
    );
    expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
  });

  it("refuses more than 100 EDUs with 400 M_BAD_JSON", async () => {
    const edus = Array.from({ length: 101 }, () => ({ edu_type: "m.x", content: {} }));
    const reply = await send("other.test", "t8", transaction("other.test", [], edus));
    expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
  });

  it("refuses a transaction without a pdus array, or with a malformed EDU, with 400", async () => {
    expect((await send("other.test", "t9", { origin: "other.test", origin_server_ts: 1 })).status).toBe(400);
    const badEdu = transaction("other.test", [], [{ edu_type: 5, content: {} }]);
    expect((await send("other.test", "t10", badEdu)).status).toBe(400);
  });

  it("refuses a body over federation.max_body_bytes with 413 M_TOO_LARGE", async () => {
    const reply = await send("other.test", "t11", transaction("other.test", [{ padding: "x".repeat(5000) }]));
    expect([reply.status, reply.body.errcode]).toEqual([413, "M_TOO_LARGE"]);
  });

  it("limits requests that fail authentication per address, with 429 past the burst (issue 9)", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 7; i++) {
      const reply = await app.inject({
        method: "PUT",
        url: `/_matrix/federation/v1/send/stranger${i}`,
        headers: { "content-type": "application/json" },
        payload: JSON.stringify(transaction("peer.test")),
      });
      statuses.push(reply.statusCode);
    }
    expect(statuses.slice(0, 5)).toEqual([401, 401, 401, 401, 401]);
    expect(statuses.at(-1)).toBe(429);
    // Verified peers on the same address are not limited by it.
    expect((await send("peer.test", "after-strangers", transaction("peer.test"))).status).toBe(200);
  });

  it("has one PDU handler only", () => {
    expect(() => inbound.registerPduHandler(async () => ({}))).toThrow(/already registered/);
  });

  it("limits each origin on its own, and the client API's limit does not apply to servers", async () => {
    // The client limit here is a burst of 2; the federation limit a burst of 30 per origin.
    const statuses: number[] = [];
    for (let i = 0; i < 32; i++)
      statuses.push((await send("other.test", `flood${i}`, transaction("other.test"))).status);
    expect(statuses.filter((s) => s === 200).length).toBeGreaterThanOrEqual(10);
    expect(statuses.at(-1)).toBe(429);
    expect((await send("peer.test", "not-flooded", transaction("peer.test"))).status).toBe(200);
  });
});

describe("the federation client's limits and errors", () => {
  let peer: LocalHttpServer;
  const transport = createHttpTransport({ allowPlainHttp: "loopback" });
  beforeAll(async () => {
    peer = await startHttpServer((request, _body, response) => {
      if (request.url === "/big") json(response, 200, { padding: "x".repeat(10_000) });
      else if (request.url === "/error") json(response, 403, { errcode: "M_FORBIDDEN", error: "not you" });
      else if (request.url === "/text") response.end("<html>");
      else if (request.url === "/silent") return;
      else json(response, 200, { ok: true });
    });
  });
  afterAll(async () => {
    transport.close();
    await peer.close();
  });

  const client = createFederationClientFor(() => peer.url, transport);

  async function failure(path: string): Promise<FederationRequestError> {
    const error = await client.request("peer.test", "GET", path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FederationRequestError);
    return error as FederationRequestError;
  }

  it("refuses an answer larger than its limit", async () => {
    expect((await failure("/big")).errcode).toBe("MYELIN_TOO_LARGE");
  });

  it("gives up on a peer that does not answer in time", async () => {
    expect((await failure("/silent")).errcode).toBe("MYELIN_TIMEOUT");
  });

  it("carries the peer's status and errcode", async () => {
    const error = await failure("/error");
    expect([error.status, error.errcode, error.message]).toEqual([
      403,
      "M_FORBIDDEN",
      "peer.test: M_FORBIDDEN: not you",
    ]);
  });

  it("refuses a 200 that is not JSON", async () => {
    expect((await failure("/text")).errcode).toBe("MYELIN_NOT_JSON");
  });

  it("sends the query string it signed", async () => {
    await client.request("peer.test", "GET", "/_matrix/q", { query: { a: "b c", skip: undefined, n: 5 } });
    const last = peer.requests.at(-1);
    expect(last?.url).toBe("/_matrix/q?a=b+c&n=5");
    expect(parseXMatrix(last?.headers.authorization ?? "")?.destination).toBe("peer.test");
  });

  it("never sends a request to its own server name", async () => {
    const error = await client.request(HERE, "GET", "/_matrix/x").catch((e: unknown) => e);
    expect((error as FederationRequestError).errcode).toBe("MYELIN_SELF");
  });
});

function createFederationClientFor(url: () => string, transport: ReturnType<typeof createHttpTransport>) {
  return createFederationClient({
    serverName: HERE,
    signer: nodeSigner("ed25519:here", new Uint8Array(32).fill(8)),
    transport,
    resolver: { resolve: async () => ({ url: url(), hostHeader: "peer.test", pinned: true }) },
    defaultTimeoutMs: 300,
    maxResponseBytes: 1_000,
  });
}
