// npm run bench:server — the homeserver under load on this machine (issue 3 targets), for
// SQLite and PostgreSQL: accepted 1 KiB m.room.encrypted sends per second with many concurrent
// clients, send latency, send-to-sync delivery latency at a steady 500 events per second, and
// server memory with 10,000 rooms and 1,000 users; then the same paced sends under attack
// (bench/underAttack.ts, issue 9).
import { fed, MlsMember } from "../test/helpers/mlsMember.js";
import { startServerProcess, type Backend, type ServerProcess } from "../test/helpers/serverProcess.js";
import { call, closeClient } from "./httpClient.js";
import { inParallel, percentile, register, type User } from "./benchUtil.js";
import { describeMachine } from "./machine.js";
import { rssMiB, underAttack } from "./underAttack.js";

const ALGORITHM = "de.bwi.mls.v1.MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";
const SENDERS = 20;
const ROOMS = 40;
const MESSAGES_PER_ROOM = 16;
const CONCURRENCY = 64;
const SATURATION_MS = 10_000;
const PACED_RATE = 500;
const PACED_MS = 6_000;
const SCALE_USERS = 1_000;
const SCALE_ROOMS = 10_000;
// `npm run bench:server -- sqlite --attack-only` runs set-up and the under-attack lines alone.
const ATTACK_ONLY = process.argv.includes("--attack-only");

interface Room {
  roomId: string;
  sender: User;
  ciphertexts: string[];
}

async function setUp(server: ServerProcess): Promise<{ rooms: Room[]; receivers: User[] }> {
  const senders = await inParallel(SENDERS, 8, (i) => register(server, `sender${i}`));
  const receivers = await inParallel(SENDERS, 8, (i) => register(server, `receiver${i}`));
  const rooms = await inParallel(ROOMS, 4, async (i) => {
    const sender = senders[i % SENDERS] as User;
    const receiver = receivers[i % SENDERS] as User;
    const created = await call(server.url, "POST", "/_matrix/client/v3/createRoom", sender.token, {});
    const roomId = created.body.room_id as string;
    const member = await MlsMember.create(roomId, sender.userId);
    const commit = await member.commit(fed([server.serverName]));
    const room = `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
    await call(server.url, "PUT", `${room}/state/de.bwi.mls.commit/`, sender.token, {
      algorithm: ALGORITHM,
      ciphertext: commit.ciphertext,
    });
    commit.adopt();
    await call(server.url, "POST", `${room}/invite`, sender.token, { user_id: receiver.userId });
    await call(server.url, "POST", `${room}/join`, receiver.token, {});
    const ciphertexts: string[] = [];
    for (let m = 0; m < MESSAGES_PER_ROOM; m++) {
      ciphertexts.push(
        await member.encrypt(JSON.stringify({ type: "m.room.message", content: { body: "x".repeat(1024) } })),
      );
    }
    return { roomId, sender, ciphertexts };
  });
  return { rooms, receivers };
}

/** Receivers long-poll /sync and note when each event ID first arrives. */
function startSyncers(server: ServerProcess, receivers: User[], arrivals: Map<string, number>) {
  let running = true;
  const loops = receivers.map(async (receiver) => {
    let since = (await call(server.url, "GET", "/_matrix/client/v3/sync?timeout=0", receiver.token)).body
      .next_batch as string;
    while (running) {
      const reply = await call(
        server.url,
        "GET",
        `/_matrix/client/v3/sync?timeout=2000&since=${since}`,
        receiver.token,
      );
      const now = performance.now();
      since = reply.body.next_batch as string;
      const joined =
        (reply.body.rooms as { join?: Record<string, { timeline: { events: Array<{ event_id: string }> } }> })
          .join ?? {};
      for (const room of Object.values(joined)) {
        for (const event of room.timeline.events)
          if (!arrivals.has(event.event_id)) arrivals.set(event.event_id, now);
      }
    }
  });
  return async () => {
    running = false;
    await Promise.all(loops);
  };
}

async function send(server: ServerProcess, room: Room, txn: string, index: number) {
  const started = performance.now();
  const reply = await call(
    server.url,
    "PUT",
    `/_matrix/client/v3/rooms/${encodeURIComponent(room.roomId)}/send/m.room.encrypted/${txn}`,
    room.sender.token,
    { algorithm: ALGORITHM, ciphertext: room.ciphertexts[index % room.ciphertexts.length] },
  );
  return {
    ok: reply.status === 200,
    eventId: reply.body.event_id as string,
    started,
    latency: performance.now() - started,
  };
}

async function saturate(server: ServerProcess, rooms: Room[]) {
  const latencies: number[] = [];
  let accepted = 0;
  let failed = 0;
  let counter = 0;
  const deadline = performance.now() + SATURATION_MS;
  const began = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (performance.now() < deadline) {
        const n = counter++;
        const result = await send(server, rooms[n % rooms.length] as Room, `s${n}`, n);
        if (result.ok) {
          accepted++;
          latencies.push(result.latency);
        } else failed++;
      }
    }),
  );
  const seconds = (performance.now() - began) / 1000;
  return {
    perSecond: accepted / seconds,
    failed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
}

async function paced(server: ServerProcess, rooms: Room[], receivers: User[]) {
  const arrivals = new Map<string, number>();
  const stop = startSyncers(server, receivers, arrivals);
  await new Promise((r) => setTimeout(r, 300));
  const sent: Array<{ eventId: string; started: number }> = [];
  const total = Math.round((PACED_RATE * PACED_MS) / 1000);
  const began = performance.now();
  const pending: Promise<void>[] = [];
  for (let n = 0; n < total; n++) {
    const due = began + (n * 1000) / PACED_RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      send(server, rooms[n % rooms.length] as Room, `p${n}`, n).then((r) => {
        if (r.ok) sent.push({ eventId: r.eventId, started: r.started });
      }),
    );
  }
  await Promise.all(pending);
  await new Promise((r) => setTimeout(r, 500));
  await stop();
  const delivery = sent.flatMap((s) => {
    const arrived = arrivals.get(s.eventId);
    return arrived === undefined ? [] : [arrived - s.started];
  });
  return {
    sent: sent.length,
    delivered: delivery.length,
    p50: percentile(delivery, 50),
    p99: percentile(delivery, 99),
  };
}

async function scale(server: ServerProcess) {
  const users = await inParallel(SCALE_USERS - 2 * SENDERS, 16, (i) => register(server, `user${i}`));
  await inParallel(SCALE_ROOMS - ROOMS, 32, (i) =>
    call(server.url, "POST", "/_matrix/client/v3/createRoom", (users[i % users.length] as User).token, {}),
  );
  await inParallel(users.length, 32, (i) =>
    call(server.url, "GET", "/_matrix/client/v3/sync?timeout=0", (users[i] as User).token),
  );
  return rssMiB(server.pid());
}

async function run(backend: Backend) {
  const starting = performance.now();
  const server = await startServerProcess({
    backend,
    compiled: true,
    env: {
      MYELIN_LOG_LEVEL: "warn",
      MYELIN_REQUESTS_PER_SECOND: "1000000",
      MYELIN_REQUEST_BURST: "1000000",
      // The per-name limit on failed logins as the server ships it (the test helper lifts it);
      // per-address limits stay lifted: every benchmark client shares one address.
      MYELIN_AUTH_FAILURES_PER_MINUTE: "6",
      MYELIN_AUTH_FAILURE_BURST: "5",
    },
    // BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the server process.
    nodeArgs: process.env.BENCH_SERVER_NODE_ARGS?.split(" ").filter(Boolean),
  });
  try {
    console.log(
      `\n[${backend}] start-up until /versions answers: ${(performance.now() - starting).toFixed(0)} ms`,
    );
    process.stdout.write(`[${backend}] setting up ${ROOMS} rooms with real MLS groups...\n`);
    const { rooms, receivers } = await setUp(server);
    if (!ATTACK_ONLY) {
      process.stdout.write(
        `[${backend}] saturating with ${CONCURRENCY} concurrent senders for ${SATURATION_MS / 1000} s...\n`,
      );
      const load = await saturate(server, rooms);
      console.log(
        `[${backend}] accepted sends: ${load.perSecond.toFixed(0)} /s (target >= 3,500 on SQLite), refused ${load.failed}`,
      );
      console.log(`[${backend}] send latency: p50 ${load.p50.toFixed(1)} ms, p99 ${load.p99.toFixed(1)} ms`);
      process.stdout.write(
        `[${backend}] steady ${PACED_RATE} events/s for ${PACED_MS / 1000} s with ${receivers.length} long-polling receivers...\n`,
      );
      const steady = await paced(server, rooms, receivers);
      console.log(
        `[${backend}] delivery send->sync: p50 ${steady.p50.toFixed(1)} ms, p99 ${steady.p99.toFixed(1)} ms (target p99 < 50 ms); ${steady.delivered}/${steady.sent} seen`,
      );
      console.log(`[${backend}] server memory after load: ${rssMiB(server.pid()).toFixed(0)} MiB`);
    }
    await underAttack(backend, server, receivers, (n) =>
      send(server, rooms[n % rooms.length] as Room, `a${n}`, n),
    );
    if (ATTACK_ONLY) return;
    process.stdout.write(`[${backend}] growing to ${SCALE_USERS} users and ${SCALE_ROOMS} rooms...\n`);
    console.log(
      `[${backend}] server memory with ${SCALE_ROOMS} rooms, ${SCALE_USERS} users: ${(await scale(server)).toFixed(0)} MiB (target < 200 MB)`,
    );
  } finally {
    await server.destroy();
  }
}

console.log(`machine: ${describeMachine()}`);
const backends = process.argv[2] && !process.argv[2].startsWith("--") ? process.argv[2] : "sqlite,postgres";
for (const backend of backends.split(",") as Backend[]) await run(backend);
closeClient();
