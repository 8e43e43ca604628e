// Issue 3, point 6: once a send was answered 200 it survives SIGKILL of the server at any
// moment, and a client's sync resumes from its last token after the restart.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { request } from "../helpers/http.js";
import { registerUser, type TestUser } from "../helpers/users.js";
import { fed, MlsMember } from "../helpers/mlsMember.js";

const ALGORITHM = "de.bwi.mls.v1.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

describe.each(BACKENDS)("durability on %s", (backend) => {
  let server: ServerProcess;
  let alice: TestUser;
  let roomPath: string;
  let ciphertexts: string[];
  const acknowledged: string[] = [];
  let tokenBeforeKill: string;

  beforeAll(async () => {
    server = await startServerProcess({
      backend,
      env: { MYELIN_REQUESTS_PER_SECOND: "100000", MYELIN_REQUEST_BURST: "100000" },
    });
    alice = await registerUser(server.url, "alice");
    const created = await request(server.url, "POST", "/_matrix/client/v3/createRoom", {
      token: alice.token,
      body: {},
    });
    roomPath = `/_matrix/client/v3/rooms/${encodeURIComponent(created.body.room_id as string)}`;
    const member = await MlsMember.create(created.body.room_id as string, alice.userId);
    const commit = await member.commit(fed([server.serverName]));
    await request(server.url, "PUT", `${roomPath}/state/de.bwi.mls.commit/`, {
      token: alice.token,
      body: { algorithm: ALGORITHM, ciphertext: commit.ciphertext },
    });
    commit.adopt();
    ciphertexts = await Promise.all(Array.from({ length: 8 }, (_, i) => member.encrypt(`message ${i}`)));

    tokenBeforeKill = (await request(server.url, "GET", "/_matrix/client/v3/sync", { token: alice.token }))
      .body.next_batch as string;
    // Four clients send without pause; the server is killed while requests are in flight.
    let counter = 0;
    let killed = false;
    const senders = Array.from({ length: 4 }, async () => {
      while (!killed) {
        const n = counter++;
        try {
          const reply = await request(server.url, "PUT", `${roomPath}/send/m.room.encrypted/k${n}`, {
            token: alice.token,
            body: { algorithm: ALGORITHM, ciphertext: ciphertexts[n % ciphertexts.length] },
          });
          if (reply.status === 200) acknowledged.push(reply.body.event_id as string);
        } catch {
          // The connection died with the server: that send was never acknowledged.
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await server.stop({ kill: true });
    killed = true;
    await Promise.all(senders);
    await server.restart();
  }, 60_000);

  afterAll(async () => {
    await server.destroy();
  });

  it("acknowledged many sends before the kill", () => {
    expect(acknowledged.length).toBeGreaterThan(20);
  });
  it("keeps every event that was answered 200", async () => {
    const missing: string[] = [];
    for (const eventId of acknowledged) {
      const reply = await request(server.url, "GET", `${roomPath}/event/${encodeURIComponent(eventId)}`, {
        token: alice.token,
      });
      if (reply.status !== 200) missing.push(eventId);
    }
    expect(missing).toEqual([]);
  });
  it("resumes sync from the client's last token", async () => {
    const reply = await request(server.url, "GET", `/_matrix/client/v3/sync?since=${tokenBeforeKill}`, {
      token: alice.token,
    });
    const rooms = (
      reply.body.rooms as { join: Record<string, { timeline: { events: Array<{ event_id: string }> } }> }
    ).join;
    const events = Object.values(rooms).flatMap((room) => room.timeline.events.map((e) => e.event_id));
    expect(events).toContain(acknowledged.at(-1));
  });
  it("pages forward from the client's last token over every acknowledged event", async () => {
    const seen = new Set<string>();
    let from = tokenBeforeKill;
    for (let page = 0; page < 1000; page++) {
      const reply = await request(server.url, "GET", `${roomPath}/messages?dir=f&limit=100&from=${from}`, {
        token: alice.token,
      });
      for (const event of reply.body.chunk as Array<{ event_id: string }>) seen.add(event.event_id);
      if (reply.body.end === undefined) break;
      from = reply.body.end as string;
    }
    expect(acknowledged.filter((id) => !seen.has(id))).toEqual([]);
  });
});
