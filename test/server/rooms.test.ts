// Rooms on one server: /createRoom (D24), the MLS delivery-service duties (section 6, D12-D14,
// D21), network membership (section 7, D23), event shapes (D22), history and idempotent sends.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { request } from "../helpers/http.js";
import { registerUser, type TestUser } from "../helpers/users.js";
import { fed, MlsMember } from "../helpers/mlsMember.js";

const ALGORITHM = "de.bwi.mls.v1.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const COMMIT = "de.bwi.mls.commit";

describe.each(BACKENDS)("rooms on %s", (backend) => {
  let server: ServerProcess;
  let alice: TestUser;
  let carol: TestUser;
  const call = (user: TestUser | undefined, method: string, path: string, body?: unknown) =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: user?.token, body });

  /** A room with its epoch-0 commit accepted; alice's MLS member at epoch 1. */
  async function roomWithCommit(): Promise<{ roomId: string; member: MlsMember; commitId: string }> {
    const created = await call(alice, "POST", "/createRoom", {});
    const roomId = created.body.room_id as string;
    const member = await MlsMember.create(roomId, alice.userId);
    const commit = await member.commit(fed([server.serverName]));
    const reply = await call(alice, "PUT", `/rooms/${encodeURIComponent(roomId)}/state/${COMMIT}/`, {
      algorithm: ALGORITHM,
      ciphertext: commit.ciphertext,
    });
    expect(reply.status).toBe(200);
    commit.adopt();
    return { roomId, member, commitId: reply.body.event_id as string };
  }

  beforeAll(async () => {
    server = await startServerProcess({ backend });
    alice = await registerUser(server.url, "alice");
    carol = await registerUser(server.url, "carol");
  });
  afterAll(async () => {
    await server.destroy();
  });

  describe("/createRoom", () => {
    it("creates an MLS room of the default version and only its create event", async () => {
      const created = await call(alice, "POST", "/createRoom", {});
      const state = await call(
        alice,
        "GET",
        `/rooms/${encodeURIComponent(created.body.room_id as string)}/state`,
      );
      expect(
        (state.body as unknown as Array<{ type: string; content: unknown }>).map((e) => [e.type, e.content]),
      ).toEqual([["m.room.create", { room_version: "de.bwi.mls.v1", algorithm: ALGORITHM }]]);
    });
    it("refuses a room version that is not MLS with M_UNSUPPORTED_ROOM_VERSION", async () => {
      const reply = await call(alice, "POST", "/createRoom", { room_version: "11" });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_UNSUPPORTED_ROOM_VERSION"]);
    });
    for (const field of [
      "name",
      "topic",
      "invite",
      "initial_state",
      "room_alias_name",
      "power_level_content_override",
      "invite_3pid",
    ]) {
      it(`D24 refuses ${field} with M_BAD_JSON`, async () => {
        const reply = await call(alice, "POST", "/createRoom", { [field]: field === "invite" ? [] : "x" });
        expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
      });
    }
    it("D24 refuses a public room", async () => {
      const reply = await call(alice, "POST", "/createRoom", { visibility: "public" });
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("takes the stable room version and its algorithm prefix", async () => {
      const created = await call(alice, "POST", "/createRoom", { room_version: "m.mls.1" });
      const content = await call(
        alice,
        "GET",
        `/rooms/${encodeURIComponent(created.body.room_id as string)}/state/m.room.create/`,
      );
      expect(content.body.algorithm).toBe("m.mls.v1.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
    });
  });

  describe("the delivery service (section 6)", () => {
    it("accepts the epoch-0 commit from the creator's client", async () => {
      const { commitId } = await roomWithCommit();
      expect(commitId).toMatch(/^\$/);
    });
    it("D12 answers the second commit for an epoch with 409 and the current commit", async () => {
      const { roomId, member, commitId } = await roomWithCommit();
      const first = await member.commit(fed([server.serverName]));
      const second = await member.commit(fed([server.serverName]));
      const path = `/rooms/${encodeURIComponent(roomId)}/state/${COMMIT}/`;
      const won = await call(alice, "PUT", path, { algorithm: ALGORITHM, ciphertext: first.ciphertext });
      const lost = await call(alice, "PUT", path, { algorithm: ALGORITHM, ciphertext: second.ciphertext });
      expect([lost.status, lost.body.errcode, lost.body.current_epoch, lost.body.current_commit]).toEqual([
        409,
        "DE.BWI.MLS_EPOCH_MISMATCH",
        2,
        won.body.event_id,
      ]);
      expect(commitId).not.toBe(won.body.event_id);
    });
    it("D12 stores nothing of the losing commit", async () => {
      const { roomId, member } = await roomWithCommit();
      const first = await member.commit(fed([server.serverName]));
      const second = await member.commit(fed([server.serverName]));
      const path = `/rooms/${encodeURIComponent(roomId)}/state/${COMMIT}/`;
      await call(alice, "PUT", path, { algorithm: ALGORITHM, ciphertext: first.ciphertext });
      await call(alice, "PUT", path, { algorithm: ALGORITHM, ciphertext: second.ciphertext });
      const history = await call(
        alice,
        "GET",
        `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=50`,
      );
      const ciphertexts = (history.body.chunk as Array<{ content: { ciphertext?: string } }>).map(
        (e) => e.content.ciphertext,
      );
      expect(ciphertexts).not.toContain(second.ciphertext);
    });
    it("D14 refuses a message of a past epoch with 409", async () => {
      const created = await call(alice, "POST", "/createRoom", {});
      const roomId = created.body.room_id as string;
      const member = await MlsMember.create(roomId, alice.userId);
      const stale = await member.encrypt("too early");
      const commit = await member.commit(fed([server.serverName]));
      await call(alice, "PUT", `/rooms/${encodeURIComponent(roomId)}/state/${COMMIT}/`, {
        algorithm: ALGORITHM,
        ciphertext: commit.ciphertext,
      });
      const reply = await call(
        alice,
        "PUT",
        `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/t1`,
        {
          algorithm: ALGORITHM,
          ciphertext: stale,
        },
      );
      expect([reply.status, reply.body.errcode, reply.body.current_epoch]).toEqual([
        409,
        "DE.BWI.MLS_EPOCH_MISMATCH",
        1,
      ]);
    });
    it("R9.4 refuses an application message in the commit slot with 403 naming the rule", async () => {
      const { roomId, member } = await roomWithCommit();
      const reply = await call(alice, "PUT", `/rooms/${encodeURIComponent(roomId)}/state/${COMMIT}/`, {
        algorithm: ALGORITHM,
        ciphertext: await member.encrypt("not a commit"),
      });
      expect([reply.status, reply.body.errcode, String(reply.body.error).slice(0, 5)]).toEqual([
        403,
        "M_FORBIDDEN",
        "R9.4:",
      ]);
    });
    it("D21 refuses a ciphertext that is not MLS with M_BAD_JSON", async () => {
      const { roomId } = await roomWithCommit();
      const reply = await call(
        alice,
        "PUT",
        `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/bad`,
        {
          algorithm: ALGORITHM,
          ciphertext: "aGVsbG8",
        },
      );
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_BAD_JSON"]);
    });
    it("D4 refuses a plaintext m.room.message with 403 R2", async () => {
      const { roomId } = await roomWithCommit();
      const reply = await call(alice, "PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.message/m1`, {
        body: "hi",
      });
      expect([reply.status, String(reply.body.error).slice(0, 3)]).toEqual([403, "R2:"]);
    });
    it("sends are idempotent by transaction ID", async () => {
      const { roomId, member } = await roomWithCommit();
      const body = { algorithm: ALGORITHM, ciphertext: await member.encrypt("once") };
      const path = `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/same-txn`;
      const first = await call(alice, "PUT", path, body);
      const again = await call(alice, "PUT", path, body);
      expect(again.body.event_id).toBe(first.body.event_id);
    });
    it("D22 shows events without a sender, with origin", async () => {
      const { roomId, member } = await roomWithCommit();
      const sent = await call(
        alice,
        "PUT",
        `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/d22`,
        {
          algorithm: ALGORITHM,
          ciphertext: await member.encrypt("shape"),
        },
      );
      const event = await call(
        alice,
        "GET",
        `/rooms/${encodeURIComponent(roomId)}/event/${encodeURIComponent(sent.body.event_id as string)}`,
      );
      expect(Object.keys(event.body).sort()).toEqual([
        "content",
        "event_id",
        "origin",
        "origin_server_ts",
        "room_id",
        "type",
        "unsigned",
      ]);
    });
  });

  describe("network membership (section 7)", () => {
    it("refuses /state for m.room.member", async () => {
      const { roomId } = await roomWithCommit();
      const reply = await call(
        alice,
        "PUT",
        `/rooms/${encodeURIComponent(roomId)}/state/m.room.member/${encodeURIComponent(carol.userId)}`,
        {
          membership: "join",
        },
      );
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    });
    it("issue 10: refuses to invite a local user who does not exist with 404 M_NOT_FOUND, storing nothing", async () => {
      const { roomId } = await roomWithCommit();
      const ghost = `@ghost:${server.serverName}`;
      const reply = await call(alice, "POST", `/rooms/${encodeURIComponent(roomId)}/invite`, {
        user_id: ghost,
      });
      expect([reply.status, reply.body.errcode]).toEqual([404, "M_NOT_FOUND"]);
      // Registering the name afterwards shows no invite waiting for it.
      const late = await registerUser(server.url, "ghost");
      const sync = await call(late, "GET", "/sync");
      expect(Object.keys((sync.body.rooms as { invite: object }).invite)).toEqual([]);
    });
    it("issue 10: refuses a sync since token ahead of the server's stream with 400 M_INVALID_PARAM", async () => {
      const next = Number((await call(alice, "GET", "/sync")).body.next_batch);
      const reply = await call(alice, "GET", `/sync?since=${next + 1_000_000}`);
      expect([reply.status, reply.body.errcode]).toEqual([400, "M_INVALID_PARAM"]);
      expect((await call(alice, "GET", `/sync?since=${next}`)).status).toBe(200);
    });
    it("refuses a join without an invite", async () => {
      const { roomId } = await roomWithCommit();
      const reply = await call(carol, "POST", `/join/${encodeURIComponent(roomId)}`, {});
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    });
    it("refuses a room's events to a user who is not joined", async () => {
      const { roomId } = await roomWithCommit();
      const reply = await call(carol, "GET", `/rooms/${encodeURIComponent(roomId)}/messages`);
      expect([reply.status, reply.body.errcode]).toEqual([403, "M_FORBIDDEN"]);
    });
    it("shows an invite in sync as the stripped create event and a stripped invite (D22)", async () => {
      const { roomId } = await roomWithCommit();
      await call(alice, "POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: carol.userId });
      const sync = await call(carol, "GET", "/sync");
      const invite = (
        sync.body.rooms as {
          invite: Record<string, { invite_state: { events: Array<Record<string, unknown>> } }>;
        }
      ).invite[roomId];
      expect(invite?.invite_state.events.map((e) => [e.type, e.sender])).toEqual([
        ["m.room.create", undefined],
        ["m.room.member", alice.userId],
      ]);
    });
    it("D23 gives a joined user the messages sent between invite and join", async () => {
      const { roomId, member } = await roomWithCommit();
      await call(alice, "POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: carol.userId });
      const ciphertext = await member.encrypt("before the join");
      await call(alice, "PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/d23`, {
        algorithm: ALGORITHM,
        ciphertext,
      });
      await call(carol, "POST", `/rooms/${encodeURIComponent(roomId)}/join`, {});
      const sync = await call(carol, "GET", "/sync");
      const joined = (
        sync.body.rooms as {
          join: Record<string, { timeline: { events: Array<{ content: { ciphertext?: string } }> } }>;
        }
      ).join[roomId];
      expect(joined?.timeline.events.map((e) => e.content.ciphertext)).toContain(ciphertext);
    });
    it("wakes a long-polling sync when a message arrives", async () => {
      const { roomId, member } = await roomWithCommit();
      const initial = await call(alice, "GET", "/sync?timeout=0");
      const polling = call(alice, "GET", `/sync?timeout=10000&since=${initial.body.next_batch as string}`);
      const ciphertext = await member.encrypt("wake up");
      await call(alice, "PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/wake`, {
        algorithm: ALGORITHM,
        ciphertext,
      });
      const reply = await polling;
      const joined = (
        reply.body.rooms as {
          join: Record<string, { timeline: { events: Array<{ content: { ciphertext?: string } }> } }>;
        }
      ).join[roomId];
      expect(joined?.timeline.events.map((e) => e.content.ciphertext)).toEqual([ciphertext]);
    });
    it("lists a newly joined member in the other members' device_lists.changed", async () => {
      const { roomId } = await roomWithCommit();
      const since = (await call(alice, "GET", "/sync")).body.next_batch as string;
      await call(alice, "POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: carol.userId });
      await call(carol, "POST", `/rooms/${encodeURIComponent(roomId)}/join`, {});
      const sync = await call(alice, "GET", `/sync?since=${since}`);
      expect((sync.body.device_lists as { changed: string[] }).changed).toContain(carol.userId);
    });
    it("leave ends delivery of the room", async () => {
      const { roomId } = await roomWithCommit();
      await call(alice, "POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: carol.userId });
      await call(carol, "POST", `/rooms/${encodeURIComponent(roomId)}/join`, {});
      await call(carol, "POST", `/rooms/${encodeURIComponent(roomId)}/leave`, {});
      const joined = await call(carol, "GET", "/joined_rooms");
      expect(joined.body.joined_rooms).not.toContain(roomId);
    });
  });

  describe("history", () => {
    it("pages /messages backwards and forwards with tokens", async () => {
      const { roomId, member } = await roomWithCommit();
      const sent: string[] = [];
      for (let i = 0; i < 5; i++) {
        const ciphertext = await member.encrypt(`m${i}`);
        await call(alice, "PUT", `/rooms/${encodeURIComponent(roomId)}/send/m.room.encrypted/h${i}`, {
          algorithm: ALGORITHM,
          ciphertext,
        });
        sent.push(ciphertext);
      }
      const base = `/rooms/${encodeURIComponent(roomId)}/messages`;
      const page1 = await call(alice, "GET", `${base}?dir=b&limit=3`);
      const page2 = await call(alice, "GET", `${base}?dir=b&limit=3&from=${page1.body.end as string}`);
      const seen = [...(page1.body.chunk as unknown[]), ...(page2.body.chunk as unknown[])] as Array<{
        content: { ciphertext?: string };
      }>;
      expect(
        seen.map((e) => e.content.ciphertext).filter((c) => c !== undefined && sent.includes(c)),
      ).toEqual([...sent].reverse());
    });
  });
});
