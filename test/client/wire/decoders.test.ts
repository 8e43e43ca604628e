// Homeserver replies are decoded, not cast: a reply of the wrong shape is an UnexpectedReplyError
// naming the first field that is wrong (and, through MatrixHttp, the endpoint), never a crash
// deep inside the SDK.
import { describe, expect, it } from "vitest";
import { MatrixApiError, MatrixHttp, UnexpectedReplyError } from "../../../src/client/http/matrixHttp.js";
import { decodeReply, type Decoder } from "../../../src/client/wire/decode.js";
import { decodeKeysClaim, decodeKeysQuery } from "../../../src/client/wire/keys.js";
import { decodeSyncResponse } from "../../../src/client/wire/sync.js";
import { CURRENT_COMMIT_SYNC_FIELD } from "../../../src/protocol/names.js";

const event = (id: string) => ({
  event_id: id,
  type: "m.room.encrypted",
  content: { ciphertext: "AA" },
  origin_server_ts: 1,
  origin: "a.example",
  unsigned: { age: 0 },
});

const goodSync = () => ({
  next_batch: "7",
  rooms: {
    join: {
      "!r:a.example": {
        timeline: { events: [event("$1")], limited: true, prev_batch: "3" },
        state: { events: [] },
        [CURRENT_COMMIT_SYNC_FIELD]: "$c",
      },
    },
    invite: {
      "!i:a.example": {
        invite_state: { events: [{ type: "m.room.member", sender: "@b:a.example", content: {} }] },
      },
    },
    leave: { "!l:a.example": {} },
  },
  to_device: { events: [{ sender: "@b:a.example", type: "m.room.encrypted", content: {} }] },
  device_one_time_keys_count: { x: 3 },
  device_unused_fallback_key_types: ["x"],
});

/** The field an UnexpectedReplyError names when `decode` reads `body`, or "decoded". */
function fieldOf<T>(decode: Decoder<T>, body: unknown): string {
  try {
    decodeReply(decode, body, "GET /test");
    return "decoded";
  } catch (error) {
    if (error instanceof UnexpectedReplyError) return error.field;
    throw error;
  }
}

describe("the /sync decoder", () => {
  it("reads a well-formed response into maps keyed by room ID", () => {
    const sync = decodeSyncResponse(goodSync(), "");
    const joined = sync.rooms?.join?.get("!r:a.example");
    expect(joined?.timeline?.events?.[0]?.event_id).toBe("$1");
    expect(joined?.timeline?.prev_batch).toBe("3");
    expect(joined?.currentCommit).toBe("$c");
    expect(sync.rooms?.invite?.get("!i:a.example")?.invite_state?.events?.[0]?.sender).toBe("@b:a.example");
    expect([...(sync.rooms?.leave?.keys() ?? [])]).toEqual(["!l:a.example"]);
    expect(sync.device_one_time_keys_count?.get("x")).toBe(3);
  });

  it("keeps a room ID like __proto__ as a plain map key", () => {
    const body = { next_batch: "1", rooms: { join: JSON.parse('{"__proto__": {}}') as object } };
    expect([...(decodeSyncResponse(body, "").rooms?.join?.keys() ?? [])]).toEqual(["__proto__"]);
  });

  const broken: [string, (body: ReturnType<typeof goodSync>) => unknown, string][] = [
    ["a body that is not an object", () => [], ""],
    ["no next_batch", ({ next_batch: _n, ...rest }) => rest, "next_batch"],
    [
      "a timeline event without event_id",
      (b) => {
        const { event_id: _e, ...rest } = event("$1");
        b.rooms.join["!r:a.example"]!.timeline.events = [rest as ReturnType<typeof event>];
        return b;
      },
      'rooms.join["!r:a.example"].timeline.events[0].event_id',
    ],
    [
      "a timeline that is a list",
      (b) => ({ ...b, rooms: { join: { "!r:a.example": { timeline: [] } } } }),
      'rooms.join["!r:a.example"].timeline',
    ],
    [
      "event content that is a string",
      (b) => {
        b.rooms.join["!r:a.example"]!.timeline.events = [{ ...event("$1"), content: "x" as never }];
        return b;
      },
      'rooms.join["!r:a.example"].timeline.events[0].content',
    ],
    [
      "a current commit that is a number",
      (b) => {
        (b.rooms.join["!r:a.example"] as Record<string, unknown>)[CURRENT_COMMIT_SYNC_FIELD] = 5;
        return b;
      },
      `rooms.join["!r:a.example"]["${CURRENT_COMMIT_SYNC_FIELD}"]`,
    ],
    [
      "an invite state event without type",
      (b) => {
        b.rooms.invite["!i:a.example"]!.invite_state.events = [{ content: {} } as never];
        return b;
      },
      'rooms.invite["!i:a.example"].invite_state.events[0].type',
    ],
    [
      "a to-device event without sender",
      (b) => ({ ...b, to_device: { events: [{ type: "t", content: {} }] } }),
      "to_device.events[0].sender",
    ],
    [
      "a key count that is a string",
      (b) => ({ ...b, device_one_time_keys_count: { x: "3" } }),
      "device_one_time_keys_count.x",
    ],
  ];
  for (const [what, change, field] of broken) {
    it(`names the field of ${what}`, () => {
      expect(fieldOf(decodeSyncResponse, change(goodSync()))).toBe(field);
    });
  }
});

describe("the /keys/query and /keys/claim decoders", () => {
  it("read device keys per user and device, leaving the keys themselves to the signature checks", () => {
    const reply = decodeKeysQuery({ device_keys: { "@a:x": { D: { any: 1 } } }, master_keys: {} }, "");
    expect(reply.deviceKeys.get("@a:x")?.get("D")).toEqual({ any: 1 });
    expect(reply.selfSigningKeys.size).toBe(0);
  });
  it("name a user's device_keys entry that is not an object", () => {
    expect(fieldOf(decodeKeysQuery, { device_keys: { "@a:x": [] } })).toBe('device_keys["@a:x"]');
  });
  it("read a claimed key package per user, device and key ID", () => {
    const reply = decodeKeysClaim({ one_time_keys: { "@a:x": { D: { "alg:ref": "KP" } } } }, "");
    expect(reply.get("@a:x")?.get("D")?.get("alg:ref")).toBe("KP");
  });
  it("name a claimed key package that is not a string", () => {
    expect(fieldOf(decodeKeysClaim, { one_time_keys: { "@a:x": { D: { "alg:ref": {} } } } })).toBe(
      'one_time_keys["@a:x"].D["alg:ref"]',
    );
  });
});

describe("MatrixHttp", () => {
  const answering = (status: number, body: string) =>
    new MatrixHttp({
      baseUrl: "http://hs.example",
      fetch: async () => new Response(body, { status }),
    });

  it("names the endpoint and field of an unexpected reply", async () => {
    const error = await answering(200, JSON.stringify({ rooms: {} }))
      .request("GET", "/sync", decodeSyncResponse, { query: { since: "s" } })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UnexpectedReplyError);
    expect(error).toMatchObject({ endpoint: "GET /sync", field: "next_batch" });
  });
  it("turns a Matrix error body into a MatrixApiError with its errcode", async () => {
    const error = await answering(409, JSON.stringify({ errcode: "M_X", error: "moved", current_epoch: 3 }))
      .request("GET", "/sync", decodeSyncResponse)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ status: 409, errcode: "M_X", body: { current_epoch: 3 } });
  });
  it("reads an error body that is not an object as M_UNKNOWN", async () => {
    const error = await answering(502, "[1]")
      .request("GET", "/sync", decodeSyncResponse)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(MatrixApiError);
    expect(error).toMatchObject({ errcode: "M_UNKNOWN", message: "M_UNKNOWN: HTTP 502" });
  });
});
