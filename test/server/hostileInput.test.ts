// Issue 9: hostile JSON and parameters at the HTTP edge, on both backends. Keys that reach
// Object.prototype (`__proto__`, `constructor`, `prototype`) are refused in every body before
// any route indexes an object with them; what no route can store or sign (floats and unsafe
// integers in event contents, unpaired surrogates, NULs, nesting deeper than canonical JSON,
// invalid UTF-8, oversized URLs and headers) gets a Matrix 4xx instead of a 500.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_CANONICAL_JSON_DEPTH } from "../../src/protocol/canonicalJson.js";
import { startTestPeer, type TestPeer } from "../helpers/hostilePeer.js";
import { request, type Reply } from "../helpers/http.js";
import { fed, MlsMember } from "../helpers/mlsMember.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser, type TestUser } from "../helpers/users.js";

const ALGORITHM = "de.bwi.mls.v1.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const COMMIT = "de.bwi.mls.commit";
const HOSTILE_KEYS = ["__proto__", "constructor", "prototype"] as const;

/** `depth` objects nested in each other, innermost holding `inner`: raw JSON text. */
function nested(depth: number, inner = "1"): string {
  return '{"a":'.repeat(depth) + inner + "}".repeat(depth);
}

describe.each(BACKENDS)("hostile input on %s", (backend) => {
  let server: ServerProcess;
  /** A federation peer the server knows (pinned): its requests pass X-Matrix before the body is read. */
  let peer: TestPeer;
  let mallory: TestUser;
  let carol: TestUser;
  /** carol's room with its epoch-0 commit; carol's MLS member sends in it. */
  let roomId: string;
  let member: MlsMember;
  let txn = 0;

  const v3 = (path: string) => `/_matrix/client/v3${path}`;
  const call = (user: TestUser, method: string, path: string, body?: unknown): Promise<Reply> =>
    request(server.url, method, v3(path), { token: user.token, body });
  const raw = (user: TestUser | undefined, method: string, path: string, rawBody: string): Promise<Reply> =>
    request(server.url, method, path, { token: user?.token, rawBody });
  const room = () => encodeURIComponent(roomId);
  const messageCount = async () =>
    ((await call(carol, "GET", `/rooms/${room()}/messages?dir=b&limit=1000`)).body.chunk as unknown[]).length;
  const sendAsCarol = async (): Promise<Reply> =>
    call(carol, "PUT", `/rooms/${room()}/send/m.room.encrypted/carol-${++txn}`, {
      algorithm: ALGORITHM,
      ciphertext: await member.encrypt("still here"),
    });

  /**
   * Every endpoint that takes an object keyed by request data, with KEY where a hostile key
   * goes: [method, path (client API unless absolute), raw body].
   */
  const keyedBodies = (): [string, string, string][] => [
    ["POST", "/keys/upload", '{"one_time_keys":{"KEY":"x"}}'],
    ["POST", "/keys/upload", '{"fallback_keys":{"KEY":"x"}}'],
    ["POST", "/keys/upload", '{"device_keys":{"keys":{"KEY":"x"}}}'],
    ["POST", "/keys/query", '{"device_keys":{"KEY":[]}}'],
    ["POST", "/keys/claim", '{"one_time_keys":{"KEY":{"D":"x"}}}'],
    ["POST", "/keys/claim", `{"one_time_keys":{"${carol.userId}":{"KEY":"x"}}}`],
    ["POST", "/keys/signatures/upload", '{"KEY":{"state_key":1}}'],
    ["POST", "/keys/signatures/upload", `{"${carol.userId}":{"KEY":{}}}`],
    ["POST", "/keys/device_signing/upload", '{"master_key":{"keys":{"KEY":"x"}}}'],
    ["PUT", "/sendToDevice/m.test/TXN", '{"messages":{"KEY":{"D":{}}}}'],
    ["PUT", "/sendToDevice/m.test/TXN", `{"messages":{"${carol.userId}":{"KEY":{}}}}`],
    ["POST", `/user/${encodeURIComponent(mallory.userId)}/filter`, '{"room":{"KEY":{}}}'],
    ["PUT", `/rooms/${room()}/send/m.room.encrypted/TXN`, '{"KEY":{"state_key":1}}'],
    ["PUT", `/rooms/${room()}/state/${COMMIT}/`, '{"KEY":{"epoch":1}}'],
    // Other servers' requests are read by the same edge (signed by a known peer, so that the
    // X-Matrix header check before the body passes).
    ["POST", "/_matrix/federation/v1/user/keys/query", '{"device_keys":{"KEY":[]}}'],
    ["POST", "/_matrix/federation/v1/user/keys/claim", '{"one_time_keys":{"KEY":{"D":"x"}}}'],
  ];
  const sendHostile = (key: string, [method, path, body]: [string, string, string]): Promise<Reply> =>
    path.startsWith("/_matrix/federation/")
      ? // JSON.parse makes `__proto__` an own key, which the peer's JSON text then carries.
        peer.request(server, method as "POST", path, JSON.parse(body.replace("KEY", key)))
      : raw(mallory, method, v3(path.replace("TXN", `t${++txn}`)), body.replace("KEY", key));

  beforeAll(async () => {
    peer = await startTestPeer();
    server = await startServerProcess({
      backend,
      env: {
        MYELIN_REQUESTS_PER_SECOND: "10000",
        MYELIN_REQUEST_BURST: "10000",
        MYELIN_FEDERATION_PINS: `${peer.serverName}=http://127.0.0.1:${peer.port}`,
      },
    });
    mallory = await registerUser(server.url, "mallory");
    carol = await registerUser(server.url, "carol");
    roomId = (await call(carol, "POST", "/createRoom", {})).body.room_id as string;
    member = await MlsMember.create(roomId, carol.userId);
    const commit = await member.commit(fed([server.serverName]));
    const reply = await call(carol, "PUT", `/rooms/${room()}/state/${COMMIT}/`, {
      algorithm: ALGORITHM,
      ciphertext: commit.ciphertext,
    });
    expect(reply.status).toBe(200);
    commit.adopt();
  });
  afterAll(async () => {
    await server.destroy();
    await peer.close();
  });

  describe("issue 9: keys that reach Object.prototype", () => {
    for (const key of HOSTILE_KEYS) {
      it(`refuses ${key} as a key in every keyed body with 400 M_BAD_JSON naming it`, async () => {
        for (const endpoint of keyedBodies()) {
          const reply = await sendHostile(key, endpoint);
          expect([endpoint[1], reply.status, reply.body.errcode]).toEqual([endpoint[1], 400, "M_BAD_JSON"]);
          expect(reply.body.error).toContain(key);
        }
      });
    }
    it("refuses __proto__ in an inline sync filter with M_BAD_JSON", async () => {
      const filter = encodeURIComponent('{"room":{"__proto__":{"rooms":[]}}}');
      const reply = await call(mallory, "GET", `/sync?filter=${filter}`);
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("lets other users send after hostile keys went to every endpoint (no poisoned prototype)", async () => {
      for (const key of HOSTILE_KEYS) {
        for (const endpoint of keyedBodies()) await sendHostile(key, endpoint);
      }
      const reply = await sendAsCarol();
      expect([reply.status, typeof reply.body.event_id]).toEqual([200, "string"]);
    });
  });

  describe("event contents must be canonical JSON (400 M_BAD_JSON, nothing stored)", () => {
    const send = (rawBody: string) =>
      raw(carol, "PUT", v3(`/rooms/${room()}/send/m.room.encrypted/c${++txn}`), rawBody);
    const cases: [string, string][] = [
      ["a float", `{"algorithm":"${ALGORITHM}","ciphertext":"AA","n":1.5}`],
      ["an integer above 2^53-1", `{"algorithm":"${ALGORITHM}","ciphertext":"AA","n":9007199254740993}`],
      ["an integer below -(2^53-1)", `{"algorithm":"${ALGORITHM}","ciphertext":"AA","n":-9007199254740993}`],
      ["nesting deeper than canonical JSON allows inside a PDU", nested(MAX_CANONICAL_JSON_DEPTH)],
    ];
    for (const [what, body] of cases) {
      it(`refuses ${what} in a send`, async () => {
        const before = await messageCount();
        const reply = await send(body);
        expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
        expect(await messageCount()).toBe(before);
      });
    }
    it("refuses a float in a commit body", async () => {
      const reply = await raw(
        carol,
        "PUT",
        v3(`/rooms/${room()}/state/${COMMIT}/`),
        `{"algorithm":"${ALGORITHM}","ciphertext":"AA","n":0.5}`,
      );
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("refuses an unsafe integer in a commit body", async () => {
      const reply = await raw(
        carol,
        "PUT",
        v3(`/rooms/${room()}/state/${COMMIT}/`),
        `{"algorithm":"${ALGORITHM}","ciphertext":"AA","n":18446744073709551616}`,
      );
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("still takes floats where clients send them: a filter", async () => {
      const reply = await raw(
        carol,
        "POST",
        v3(`/user/${encodeURIComponent(carol.userId)}/filter`),
        '{"room":{"timeline":{"limit":5}},"org.example.zoom":1.5}',
      );
      expect([reply.status, typeof reply.body.filter_id]).toEqual([200, "string"]);
    });
    it("still takes floats where clients send them: a to-device content", async () => {
      const reply = await raw(
        carol,
        "PUT",
        v3(`/sendToDevice/m.test/f${++txn}`),
        `{"messages":{"${mallory.userId}":{"*":{"n":1.5}}}}`,
      );
      expect(reply.status).toBe(200);
    });
  });

  describe("bodies no route can store: 400 M_BAD_JSON or M_NOT_JSON", () => {
    it("refuses an unpaired surrogate escape in a send with M_BAD_JSON", async () => {
      const before = await messageCount();
      const reply = await raw(
        carol,
        "PUT",
        v3(`/rooms/${room()}/send/m.room.encrypted/s${++txn}`),
        `{"algorithm":"${ALGORITHM}","ciphertext":"AA","x":"\\ud800"}`,
      );
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
      expect(await messageCount()).toBe(before);
    });
    it("refuses a NUL in a body string with M_BAD_JSON", async () => {
      const reply = await raw(
        carol,
        "PUT",
        v3(`/devices/${encodeURIComponent(carol.deviceId)}`),
        '{"display_name":"a\\u0000b"}',
      );
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("refuses a NUL in a body key with M_BAD_JSON", async () => {
      const reply = await raw(carol, "POST", v3("/keys/query"), '{"device_keys":{"@a\\u0000:x":[]}}');
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it(`refuses a body nested deeper than ${MAX_CANONICAL_JSON_DEPTH} levels with M_BAD_JSON`, async () => {
      const reply = await raw(carol, "POST", v3("/keys/query"), nested(MAX_CANONICAL_JSON_DEPTH + 1));
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("refuses a 5,000-deep filter with M_BAD_JSON", async () => {
      const filter = '{"room":'.repeat(5000) + "{}" + "}".repeat(5000);
      const reply = await raw(carol, "POST", v3(`/user/${encodeURIComponent(carol.userId)}/filter`), filter);
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("refuses a body that is not UTF-8 with M_NOT_JSON (not U+FFFD)", async () => {
      const response = await fetch(server.url + v3("/devices/" + encodeURIComponent(carol.deviceId)), {
        method: "PUT",
        headers: { authorization: `Bearer ${carol.token}`, "content-type": "application/json" },
        body: Buffer.concat([Buffer.from('{"display_name":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]),
      });
      expect([response.status, ((await response.json()) as { errcode: string }).errcode]).toEqual([
        400,
        "M_NOT_JSON",
      ]);
    });
  });

  describe("parameters no route can store: 400 M_INVALID_PARAM", () => {
    it("refuses a NUL in a path ID", async () => {
      const reply = await call(carol, "GET", "/rooms/%00abc/state");
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    });
    it("refuses a NUL in a path ID of a write", async () => {
      const reply = await call(carol, "PUT", `/rooms/${room()}/send/m.room.encrypted/a%00b`, {});
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    });
    it("refuses a NUL in a query parameter", async () => {
      // The legacy access_token parameter goes straight to a session lookup.
      const reply = await request(server.url, "GET", v3("/account/whoami?access_token=a%00b"));
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    });
    it("refuses a path that is not percent-encoded UTF-8", async () => {
      const reply = await call(carol, "GET", "/rooms/%ED%A0%80/state");
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
    });
  });

  describe("oversized requests get Matrix error bodies", () => {
    it("answers an over-long path segment with 414 M_TOO_LARGE", async () => {
      const reply = await call(carol, "GET", `/rooms/${"a".repeat(2000)}/state`);
      expect([reply.status, reply.body.errcode]).toEqual([414, "M_TOO_LARGE"]);
    });
    it("answers headers over Node's limit with 431 M_TOO_LARGE", async () => {
      const response = await fetch(server.url + v3("/sync"), { headers: { "x-filler": "a".repeat(20_000) } });
      expect([response.status, ((await response.json()) as { errcode: string }).errcode]).toEqual([
        431,
        "M_TOO_LARGE",
      ]);
    });
    it("answers a URL over Node's header limit with 431 M_TOO_LARGE", async () => {
      const response = await fetch(server.url + v3(`/rooms/${"a".repeat(20_000)}/state`));
      expect([response.status, ((await response.json()) as { errcode: string }).errcode]).toEqual([
        431,
        "M_TOO_LARGE",
      ]);
    });
  });
});
