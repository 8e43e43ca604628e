// Issue 9, fuzzed: random JSON bodies (hostile keys, NULs, unpaired surrogates, floats, unsafe
// and non-finite numbers, deep nesting, text that is not JSON or not UTF-8) and random path and
// query segments against a real server on both backends. No request may get a 5xx, and every
// refusal carries a Matrix errcode. Runs are bounded to keep each backend well under a minute.
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fed, MlsMember } from "../helpers/mlsMember.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser, type TestUser } from "../helpers/users.js";

const ALGORITHM = "de.bwi.mls.v1.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const COMMIT = "de.bwi.mls.commit";
const BODY_RUNS = 1500;
const PATH_RUNS = 800;
// A few seconds each when the machine is idle; room for a busy one.
const FUZZ_TIMEOUT_MS = 90_000;

// Keys and values are built as JSON text, so `__proto__` stays a key (an object literal would
// set the prototype instead) and numbers can be ones JavaScript cannot hold.
const TRICKY_KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "valueOf",
  "*",
  "",
  "a\u0000b",
  "\ud800",
  "\udfff x",
  "ed25519:AAAA",
  `${ALGORITHM}:AAAA`,
];
const NUMBER_TEXTS = ["1.5", "-0", "1e400", "-1e400", "9007199254740993", "-9007199254740993", "1.0", "1e2"];

const text = fc.string({ unit: "binary", maxLength: 16 });

function jsonText(localKeys: readonly string[]): fc.Arbitrary<string> {
  const key = fc.oneof(fc.constantFrom(...TRICKY_KEYS, ...localKeys), text);
  const scalar = fc.oneof(
    text.map((s) => JSON.stringify(s)),
    fc.constantFrom(...NUMBER_TEXTS),
    fc.integer().map(String),
    fc.double({ noNaN: true, noDefaultInfinity: true }).map(String),
    fc.constantFrom("true", "false", "null"),
  );
  const { value } = fc.letrec<{ value: string; array: string; object: string }>((tie) => ({
    value: fc.oneof({ depthSize: "small" }, scalar, tie("array"), tie("object")),
    array: fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(",")}]`),
    object: fc
      .array(fc.tuple(key, tie("value")), { maxLength: 4 })
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
  }));
  return value;
}

/** A raw request body: mostly JSON text, sometimes deep nesting, broken JSON or bytes that are not UTF-8. */
function bodyBytes(localKeys: readonly string[]): fc.Arbitrary<Uint8Array> {
  const utf8 = (s: string) => new Uint8Array(Buffer.from(s, "utf8"));
  return fc.oneof(
    { weight: 8, arbitrary: jsonText(localKeys).map(utf8) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1000, max: 1100 }).map((n) => utf8("[".repeat(n) + "]".repeat(n))),
    },
    { weight: 1, arbitrary: text.map(utf8) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 24 }) },
  );
}

/** A path segment as a client might percent-encode it, or raw escapes a client should not send. */
const segment: fc.Arbitrary<string> = fc.oneof(
  text.map((s) => [...Buffer.from(s, "utf8")].map((b) => `%${b.toString(16).padStart(2, "0")}`).join("")),
  fc.constantFrom(
    "%00",
    "%zz",
    "%ED%A0%80",
    "%C0%80",
    "%FF",
    "__proto__",
    "constructor",
    "0",
    "-1",
    "99999999999999999",
  ),
  fc.integer({ min: 990, max: 1010 }).map((n) => "a".repeat(n)),
);

interface Answer {
  readonly status: number;
  readonly errcode: unknown;
}

describe.each(BACKENDS)("fuzzed hostile input on %s", (backend) => {
  let server: ServerProcess;
  let fuzzer: TestUser;
  let roomId: string;
  let txn = 0;

  async function send(method: string, path: string, body?: Uint8Array): Promise<Answer> {
    const response = await fetch(server.url + path, {
      method,
      headers: { authorization: `Bearer ${fuzzer.token}`, "content-type": "application/json" },
      body: body === undefined ? undefined : Buffer.from(body),
    });
    const answer = await response.text();
    let errcode: unknown;
    try {
      errcode = (JSON.parse(answer) as { errcode?: unknown }).errcode;
    } catch {
      errcode = undefined;
    }
    return { status: response.status, errcode };
  }

  /** No 5xx; every refusal is a Matrix error. Says which request broke the rule. */
  function expectClientAnswer(what: string, answer: Answer): void {
    const ok = answer.status < 500 && (answer.status < 400 || typeof answer.errcode === "string");
    expect(ok ? "ok" : `${what} → ${answer.status} ${String(answer.errcode)}`).toBe("ok");
  }

  beforeAll(async () => {
    server = await startServerProcess({
      backend,
      env: { MYELIN_REQUESTS_PER_SECOND: "100000", MYELIN_REQUEST_BURST: "100000", MYELIN_LOG_LEVEL: "warn" },
    });
    fuzzer = await registerUser(server.url, "fuzzer");
    const created = await fetch(`${server.url}/_matrix/client/v3/createRoom`, {
      method: "POST",
      headers: { authorization: `Bearer ${fuzzer.token}` },
      body: "{}",
    });
    roomId = ((await created.json()) as { room_id: string }).room_id;
    const member = await MlsMember.create(roomId, fuzzer.userId);
    const commit = await member.commit(fed([server.serverName]));
    const reply = await send(
      "PUT",
      `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}/state/${COMMIT}/`,
      Buffer.from(JSON.stringify({ algorithm: ALGORITHM, ciphertext: commit.ciphertext })),
    );
    expect(reply.status).toBe(200);
  });
  afterAll(async () => {
    await server.destroy();
  });

  it(
    "answers random bodies on every JSON endpoint without a 5xx",
    async () => {
      const me = encodeURIComponent(fuzzer.userId);
      const room = encodeURIComponent(roomId);
      // [method, path, shell]: the random JSON goes where the shell puts X (raw bytes go alone).
      const endpoints: [string, string, string][] = [
        ["POST", "/keys/upload", "X"],
        ["POST", "/keys/upload", '{"one_time_keys":X,"fallback_keys":X}'],
        ["POST", "/keys/upload", '{"device_keys":X}'],
        ["POST", "/keys/query", '{"device_keys":X,"timeout":100}'],
        ["POST", "/keys/claim", '{"one_time_keys":X,"timeout":100}'],
        ["POST", "/keys/signatures/upload", "X"],
        ["POST", "/keys/device_signing/upload", '{"master_key":X,"self_signing_key":X}'],
        ["PUT", "/sendToDevice/m.test/TXN", '{"messages":X}'],
        ["POST", `/user/${me}/filter`, "X"],
        ["POST", `/user/${me}/filter`, '{"room":{"timeline":X}}'],
        ["PUT", `/rooms/${room}/send/m.room.encrypted/TXN`, "X"],
        ["PUT", `/rooms/${room}/state/${COMMIT}/`, "X"],
        ["POST", "/createRoom", '{"creation_content":X}'],
        ["PUT", `/devices/${encodeURIComponent(fuzzer.deviceId)}`, "X"],
        ["PUT", `/profile/${me}/displayname`, "X"],
        ["POST", "/login", "X"],
        ["POST", "/_matrix/federation/v1/user/keys/query", '{"device_keys":X}'],
        ["POST", "/_matrix/federation/v1/user/keys/claim", '{"one_time_keys":X}'],
      ];
      const localKeys = [fuzzer.userId, fuzzer.deviceId];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...endpoints),
          bodyBytes(localKeys),
          fc.boolean(),
          async ([method, path, shell], bytes, wrap) => {
            const full = path.startsWith("/_matrix/") ? path : `/_matrix/client/v3${path}`;
            const inner = Buffer.from(bytes).toString("utf8");
            const body =
              wrap && Buffer.from(inner, "utf8").equals(Buffer.from(bytes))
                ? Buffer.from(shell.replaceAll("X", inner), "utf8")
                : bytes;
            const answer = await send(method, full.replace("TXN", `t${++txn}`), body);
            expectClientAnswer(
              `${method} ${path} ${JSON.stringify(Buffer.from(body).toString("utf8").slice(0, 200))}`,
              answer,
            );
          },
        ),
        { numRuns: BODY_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );

  it(
    "answers random path and query segments without a 5xx",
    async () => {
      const templates: [string, string][] = [
        ["GET", "/_matrix/client/v3/rooms/{s}/state"],
        ["GET", "/_matrix/client/v3/rooms/{s}/state/{s}/{s}"],
        ["GET", "/_matrix/client/v3/rooms/{s}/event/{s}"],
        ["GET", "/_matrix/client/v3/rooms/{s}/messages?from={s}&dir={s}&limit={s}"],
        ["PUT", "/_matrix/client/v3/rooms/{s}/send/{s}/{s}"],
        ["GET", "/_matrix/client/v3/user/{s}/filter/{s}"],
        ["GET", "/_matrix/client/v3/profile/{s}"],
        ["GET", "/_matrix/client/v3/devices/{s}"],
        ["PUT", "/_matrix/client/v3/devices/{s}"],
        ["PUT", "/_matrix/client/v3/sendToDevice/{s}/{s}"],
        ["GET", "/_matrix/client/v3/sync?since={s}&filter={s}&timeout=0"],
        ["GET", "/_matrix/client/v3/keys/changes?from={s}&to={s}"],
        ["GET", "/_matrix/client/v3/pushrules/global/{s}/{s}"],
        ["GET", "/_matrix/client/v3/register/available?username={s}"],
        ["GET", "/_matrix/federation/v1/user/devices/{s}"],
        ["GET", "/_matrix/client/v3/account/whoami?{s}={s}"],
      ];
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(...templates),
          fc.array(segment, { minLength: 3, maxLength: 3 }),
          async ([method, template], segments) => {
            let i = 0;
            const path = template.replace(/\{s\}/g, () => segments[i++ % segments.length] as string);
            const answer = await send(method, path, method === "PUT" ? Buffer.from("{}") : undefined);
            expectClientAnswer(`${method} ${path.slice(0, 300)}`, answer);
          },
        ),
        { numRuns: PATH_RUNS },
      );
    },
    FUZZ_TIMEOUT_MS,
  );
});
