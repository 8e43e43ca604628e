// "Metadata at rest": the server keeps what it learnt about who talks to whom only as long as
// the protocol needs it (docs/privacy.md). Transaction IDs (which name the device behind an event
// or message) go after retention.txn_max_age_ms or with their device, the inviter goes at the
// join, device list changes go after retention.device_list_changes_max_age_ms (a sync token from
// before them still hears of every user it shares a room with). Time is moved with
// MYELIN_CLOCK_OFFSET_FILE; the tests that move it come last and each moves it further.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { request } from "../helpers/http.js";
import { startTestPeer, type TestPeer } from "../helpers/hostilePeer.js";
import { fed, MlsMember } from "../helpers/mlsMember.js";
import { eventually, openServerDatabase, type ServerDatabase } from "../helpers/serverDatabase.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { loginUser, registerUser, type TestUser } from "../helpers/users.js";
import { pinsEnv, transaction } from "./federation/federationPeer.js";

const PASSWORD = "correct horse battery";
const ALGORITHM = "de.bwi.mls.v1.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const COMMIT = "de.bwi.mls.commit";
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

describe.each(BACKENDS)("metadata at rest on %s", (backend) => {
  let server: ServerProcess;
  let db: ServerDatabase;
  let peer: TestPeer;
  let clockDir: string;
  let offset = 0;
  let users = 0;
  let txns = 0;
  const advance = (ms: number) => {
    offset += ms;
    writeFileSync(join(clockDir, "offset"), String(offset));
  };
  const call = (user: TestUser, method: string, path: string, body?: unknown) =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: user.token, body });
  const newUser = () => registerUser(server.url, `meta${++users}`, PASSWORD);
  const count = async (sql: string, params: readonly unknown[]) =>
    Number((await db.all<{ n: number | string }>(sql, params))[0]?.n);

  /** A room of `owner` with its epoch-0 commit, and a message sent in it under a transaction ID. */
  async function room(owner: TestUser): Promise<{ roomId: string }> {
    const roomId = (await call(owner, "POST", "/createRoom", {})).body.room_id as string;
    const path = `/rooms/${encodeURIComponent(roomId)}`;
    const member = await MlsMember.create(roomId, owner.userId);
    const commit = await member.commit(fed([server.serverName]));
    const reply = await call(owner, "PUT", `${path}/state/${COMMIT}/`, {
      algorithm: ALGORITHM,
      ciphertext: commit.ciphertext,
    });
    expect(reply.status).toBe(200);
    commit.adopt();
    const ciphertext = await member.encrypt("hello");
    const sent = await call(owner, "PUT", `${path}/send/m.room.encrypted/m${++txns}`, {
      algorithm: ALGORITHM,
      ciphertext,
    });
    expect(sent.status).toBe(200);
    return { roomId };
  }
  const eventTxns = (user: TestUser) =>
    count("SELECT COUNT(*) AS n FROM event_txns WHERE user_id = ? AND device_id = ?", [
      user.userId,
      user.deviceId,
    ]);

  beforeAll(async () => {
    clockDir = mkdtempSync(join(tmpdir(), "myelin-clock-"));
    advance(0);
    peer = await startTestPeer();
    server = await startServerProcess({
      backend,
      env: {
        MYELIN_CLOCK_OFFSET_FILE: join(clockDir, "offset"),
        MYELIN_RETENTION_PRUNE_INTERVAL_MS: "200",
        MYELIN_FEDERATION_PINS: pinsEnv([peer]),
      },
    });
    db = await openServerDatabase(server);
  });
  afterAll(async () => {
    await db.close();
    await server.destroy();
    await peer.close();
    rmSync(clockDir, { recursive: true, force: true });
  });

  it("drops the inviter at the join", async () => {
    const [alice, carol] = [await newUser(), await newUser()];
    const { roomId } = await room(alice);
    await call(alice, "POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: carol.userId });
    const inviter = async () =>
      (
        await db.all<{ inviter: string | null }>(
          "SELECT inviter FROM room_memberships WHERE room_id = ? AND user_id = ?",
          [roomId, carol.userId],
        )
      )[0]?.inviter;
    expect(await inviter()).toBe(alice.userId);
    expect((await call(carol, "POST", `/rooms/${encodeURIComponent(roomId)}/join`, {})).status).toBe(200);
    expect(await inviter()).toBeNull();
  });

  it("deletes a device's event transaction IDs with the device", async () => {
    const alice = await newUser();
    await room(alice);
    expect(await eventTxns(alice)).toBe(1);
    expect((await call(alice, "POST", "/logout")).status).toBe(200);
    expect(await eventTxns(alice)).toBe(0);
  });

  it("deletes inbound federation transactions and to-device message IDs after txn_max_age_ms", async () => {
    const bob = await newUser();
    const edu = {
      edu_type: "m.direct_to_device",
      content: {
        sender: `@someone:${peer.serverName}`,
        type: "m.test",
        message_id: "m1",
        messages: { [bob.userId]: { [bob.deviceId]: { n: 1 } } },
      },
    };
    const sent = await peer.request(
      server,
      "PUT",
      "/_matrix/federation/v1/send/meta1",
      transaction(peer.serverName, [], [edu]),
    );
    expect(sent.status).toBe(200);
    const stored = async () =>
      (await count("SELECT COUNT(*) AS n FROM federation_inbound_txns WHERE origin = ?", [peer.serverName])) +
      (await count("SELECT COUNT(*) AS n FROM to_device_federation_ids WHERE origin = ?", [peer.serverName]));
    expect(await stored()).toBe(2);
    advance(DAY + HOUR);
    await eventually(async () => (await stored()) === 0);
  });

  it("deletes event transaction IDs after txn_max_age_ms", async () => {
    const alice = await newUser();
    await room(alice);
    expect(await eventTxns(alice)).toBe(1);
    advance(DAY + HOUR);
    await eventually(async () => (await eventTxns(alice)) === 0);
  });

  it("deletes device list changes after device_list_changes_max_age_ms; an older token hears of every room-mate", async () => {
    const [alice, carol] = [await newUser(), await newUser()];
    const { roomId } = await room(alice);
    const since = (await call(alice, "GET", "/sync")).body.next_batch as string;
    await call(alice, "POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: carol.userId });
    await call(carol, "POST", `/rooms/${encodeURIComponent(roomId)}/join`, {});
    const pairs = () =>
      count("SELECT COUNT(*) AS n FROM device_list_changes WHERE only_for = ? OR user_id = ?", [
        carol.userId,
        carol.userId,
      ]);
    expect(await pairs()).toBeGreaterThan(0);
    // The pruning job stamps a change when it first sees it; the age counts from then.
    const unstamped = () =>
      count(
        "SELECT COUNT(*) AS n FROM device_list_changes WHERE (only_for = ? OR user_id = ?) AND created_ts = 0",
        [carol.userId, carol.userId],
      );
    await eventually(async () => (await unstamped()) === 0);
    advance(31 * DAY);
    await eventually(async () => (await pairs()) === 0);
    const aliceAgain = await loginUser(server.url, alice.userId, PASSWORD);
    const sync = await call(aliceAgain, "GET", `/sync?since=${since}`);
    expect(sync.status).toBe(200);
    expect((sync.body.device_lists as { changed: string[] }).changed).toContain(carol.userId);
  });
});
