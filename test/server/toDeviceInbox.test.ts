// Issue 9 (defect 8): a device that never syncs must not make the server store without bound.
// Its inbox holds at most retention.to_device_max_pending messages and _bytes; the oldest that
// are not MLS Welcomes go first (a lost Welcome is a lost room join, section 7), a message is
// refused with 429 only when Welcomes alone fill the inbox, and undelivered messages expire by
// age (Welcomes later, when their key package has expired). The server's clock is moved with
// MYELIN_CLOCK_OFFSET_FILE.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeBase64Url } from "../../src/protocol/base64.js";
import { request, type Reply } from "../helpers/http.js";
import { eventually, openServerDatabase, type ServerDatabase } from "../helpers/serverDatabase.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser, type TestUser } from "../helpers/users.js";

const MAX_PENDING = 20;
const MAX_BYTES = 20_000;
const DAY = 86_400_000;
const ALGORITHM = "de.bwi.mls.v1.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

/** A to-device Welcome as clients send it (section 9): an MLSMessage of wire format mls_welcome. */
function welcome(): Record<string, unknown> {
  const bytes = new Uint8Array([0, 1, 0, 3, ...randomBytes(64)]);
  return { algorithm: ALGORITHM, ciphertext: encodeBase64Url(bytes) };
}

interface ToDeviceSync {
  to_device?: { events: Array<{ type: string; content: Record<string, unknown> }> };
}

describe.each(BACKENDS)("the to-device inbox bound on %s", (backend) => {
  let server: ServerProcess;
  let db: ServerDatabase;
  let clockDir: string;
  let users = 0;
  let txns = 0;
  const setClock = (offsetMs: number) => writeFileSync(join(clockDir, "offset"), String(offsetMs));
  const call = (user: TestUser, method: string, path: string, body?: unknown): Promise<Reply> =>
    request(server.url, method, `/_matrix/client/v3${path}`, { token: user.token, body });
  const newUser = () => registerUser(server.url, `inbox${++users}`);
  const send = (from: TestUser, to: TestUser, content: unknown, type = "m.test") =>
    call(from, "PUT", `/sendToDevice/${type}/t${++txns}`, {
      messages: { [to.userId]: { [to.deviceId]: content } },
    });
  const syncEvents = async (user: TestUser) =>
    ((await call(user, "GET", "/sync?timeout=0")).body as ToDeviceSync).to_device?.events ?? [];
  const stored = async (user: TestUser) => {
    const [row] = await db.all<{ count: number | string; bytes: number | string | null }>(
      "SELECT COUNT(*) AS count, SUM(LENGTH(content)) AS bytes FROM to_device_messages WHERE user_id = ? AND device_id = ?",
      [user.userId, user.deviceId],
    );
    return { count: Number(row?.count), bytes: Number(row?.bytes ?? 0) };
  };

  beforeAll(async () => {
    clockDir = mkdtempSync(join(tmpdir(), "myelin-clock-"));
    setClock(0);
    server = await startServerProcess({
      backend,
      env: {
        MYELIN_REQUESTS_PER_SECOND: "10000",
        MYELIN_REQUEST_BURST: "10000",
        MYELIN_CLOCK_OFFSET_FILE: join(clockDir, "offset"),
        MYELIN_RETENTION_TO_DEVICE_MAX_PENDING: String(MAX_PENDING),
        MYELIN_RETENTION_TO_DEVICE_MAX_PENDING_BYTES: String(MAX_BYTES),
        MYELIN_RETENTION_PRUNE_INTERVAL_MS: "200",
      },
    });
    db = await openServerDatabase(server);
  });
  afterAll(async () => {
    await db.close();
    await server.destroy();
    rmSync(clockDir, { recursive: true, force: true });
  });

  it("issue 9: many senders to a device that never syncs leave at most to_device_max_pending messages, the newest", async () => {
    const bob = await newUser();
    const senders = await Promise.all(Array.from({ length: 5 }, () => newUser()));
    let n = 0;
    for (let round = 0; round < 10; round++) {
      for (const sender of senders) expect((await send(sender, bob, { n: ++n })).status).toBe(200);
    }
    expect((await stored(bob)).count).toBe(MAX_PENDING);
    const events = await syncEvents(bob);
    expect(events.map((event) => event.content.n)).toEqual(
      Array.from({ length: MAX_PENDING }, (_, i) => n - MAX_PENDING + 1 + i),
    );
  });

  it("issue 9: the stored bytes of a device's inbox stay under to_device_max_pending_bytes", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const padding = "x".repeat(3_000);
    for (let n = 1; n <= 15; n++) expect((await send(alice, bob, { n, padding })).status).toBe(200);
    const { count, bytes } = await stored(bob);
    expect(bytes).toBeLessThanOrEqual(MAX_BYTES);
    expect(count).toBe(Math.floor(MAX_BYTES / JSON.stringify({ n: 10, padding }).length));
    const numbers = (await syncEvents(bob)).map((event) => event.content.n);
    expect(numbers.at(-1)).toBe(15);
  });

  it("issue 9: Welcomes stay in a full inbox while older ordinary messages are dropped", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const welcomes = [welcome(), welcome()];
    for (const content of welcomes)
      expect((await send(alice, bob, content, "m.room.encrypted")).status).toBe(200);
    for (let n = 1; n <= 3 * MAX_PENDING; n++) expect((await send(alice, bob, { n })).status).toBe(200);
    const events = await syncEvents(bob);
    expect(events.slice(0, 2).map((event) => event.content)).toEqual(welcomes);
    expect(events.slice(2).map((event) => event.content.n)).toEqual(
      Array.from({ length: MAX_PENDING - 2 }, (_, i) => 3 * MAX_PENDING - (MAX_PENDING - 2) + 1 + i),
    );
  });

  it("issue 9: an inbox that Welcomes alone fill refuses another message with 429 M_LIMIT_EXCEEDED", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    for (let i = 0; i < MAX_PENDING; i++) {
      expect((await send(alice, bob, welcome(), "m.room.encrypted")).status).toBe(200);
    }
    const refused = await send(alice, bob, { n: 1 });
    expect([refused.status, refused.body.errcode]).toEqual([429, "M_LIMIT_EXCEEDED"]);
    expect((await stored(bob)).count).toBe(MAX_PENDING);
  });

  it("a ciphertext that is not an MLS Welcome gets no Welcome's protection", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const notWelcome = {
      algorithm: ALGORITHM,
      ciphertext: encodeBase64Url(new Uint8Array([0, 1, 0, 2, 9, 9])),
    };
    for (let i = 0; i < MAX_PENDING; i++) {
      expect((await send(alice, bob, notWelcome, "m.room.encrypted")).status).toBe(200);
    }
    expect((await send(alice, bob, { n: 1 })).status).toBe(200);
    expect((await stored(bob)).count).toBe(MAX_PENDING);
  });

  // These move the server's clock forward, so they come last.
  it("issue 9: undelivered messages expire after to_device_max_age_ms, Welcomes only after welcome_max_age_ms", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    const kept = welcome();
    expect((await send(alice, bob, { n: 1 })).status).toBe(200);
    expect((await send(alice, bob, kept, "m.room.encrypted")).status).toBe(200);
    setClock(8 * DAY);
    await eventually(async () => (await stored(bob)).count === 1);
    setClock(17 * DAY);
    await eventually(async () => (await stored(bob)).count === 0);
  });

  it("to_device_txns rows are deleted after txn_max_age_ms", async () => {
    const [alice, bob] = [await newUser(), await newUser()];
    expect((await send(alice, bob, { n: 1 })).status).toBe(200);
    const rows = () =>
      db.all("SELECT txn_id FROM to_device_txns WHERE user_id = ?", [alice.userId]).then((r) => r.length);
    expect(await rows()).toBe(1);
    setClock(17 * DAY + DAY + 60_000);
    await eventually(async () => (await rows()) === 0);
  });
});
