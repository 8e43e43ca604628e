// npm run bench:federation — two homeservers on loopback (compiled, SQLite), server A's clients
// sending a sustained stream of m.room.encrypted events that server B ingests with the full D10
// checks (issue 5 targets): PDUs per second B stores, origin-to-remote-sync latency at a steady
// 500 events per second, the time for B to join a room with 1,000 and 10,000 events of history;
// and (issue 16) the time from the heal of a 60 s and of a 10-minute partition to the first
// delivery, with the default retry settings. BENCH_HEAL_ONLY=1 runs only the last.
import { fed, MlsMember } from "../test/helpers/mlsMember.js";
import {
  claimKeyPackage,
  deviceKeys,
  MLS_ALGORITHM,
  newKeyPackage,
  newMlsDevice,
} from "../test/helpers/keyPackages.js";
import type { ServerProcess } from "../test/helpers/serverProcess.js";
import {
  cpuSeconds,
  crossRoom,
  eventCounter,
  inParallel,
  percentile,
  register,
  roomOnA,
  roomPath,
  sendCommit,
  sendEncrypted,
  startPair,
  startPartitionPair,
  type CrossRoom,
  type Pair,
  type PartitionPair,
  type User,
} from "./federationSetup.js";
import { call, closeClient } from "./httpClient.js";
import { describeMachine } from "./machine.js";

const ROOMS = 16;
const CONCURRENCY = 64;
const LIVE_EVENTS = 16_000;
const BACKLOG_EVENTS = 10_000;
const PACED_RATE = 500;
/** Sent at the steady rate but not measured: the first seconds after B's restart are a transient. */
const PACED_WARMUP_MS = 2_000;
const PACED_MS = 8_000;
const HISTORIES = [1_000, 10_000] as const;
/** Joins per history length, alternating, so drift on a noisy machine hits both alike. */
const JOIN_ROUNDS = 3;
const POLL_MS = 20;
const INVITE_RETRIES = 100;
const INVITE_RETRY_MS = 20;
const DRAIN_TIMEOUT_MS = 180_000;
/** Long polls ask for up to 100 events per room (the server's maximum), so none is skipped. */
const SYNC_FILTER = encodeURIComponent(JSON.stringify({ room: { timeline: { limit: 100 } } }));

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `total` events from the rooms' senders on A with `CONCURRENCY` requests in flight. */
async function stream(a: ServerProcess, rooms: readonly CrossRoom[], total: number, tag: string) {
  let accepted = 0;
  await inParallel(total, CONCURRENCY, async (n) => {
    const room = rooms[n % rooms.length] as CrossRoom;
    const ciphertext = room.ciphertexts[n % room.ciphertexts.length] as string;
    if ((await sendEncrypted(a, room.sender, room.roomId, `${tag}${n}`, ciphertext)).ok) accepted++;
  });
  return accepted;
}

/** A moment of a phase: B's stored events and both servers' CPU time so far. */
interface Mark {
  readonly at: number;
  readonly count: number;
  readonly cpuA: number;
  readonly cpuB: number;
}

function mark(pair: Pair, count: number): Mark {
  return { at: performance.now(), count, cpuA: cpuSeconds(pair.a), cpuB: cpuSeconds(pair.b) };
}

/** How busy each server was between two marks, in percent of one core (2 cores: 200 %). */
function busy(from: Mark, to: Mark): string {
  const seconds = (to.at - from.at) / 1000;
  const percent = (cpu: number) => `${((cpu / seconds) * 100).toFixed(0)} %`;
  return `A ${percent(to.cpuA - from.cpuA)}, B ${percent(to.cpuB - from.cpuB)} of a core`;
}

/** Polls B's event count until it reaches `target`: the first time it grew and the time it did. */
async function waitForCount(
  pair: Pair,
  counter: { count(): number },
  baseline: number,
  target: () => number,
) {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  let first: Mark | undefined;
  for (;;) {
    const count = counter.count();
    if (first === undefined && count > baseline) first = mark(pair, count);
    if (count >= target()) {
      const done = mark(pair, count);
      return { first: first ?? done, done };
    }
    if (performance.now() > deadline)
      throw new Error(`B stored ${count - baseline} of ${target() - baseline} in time`);
    await sleep(POLL_MS);
  }
}

/** Figure 1 as the brief puts it: A's clients send flat out; time until B has stored them all. */
async function ingestLive(pair: Pair, rooms: readonly CrossRoom[]) {
  const counter = eventCounter(pair.b);
  try {
    const baseline = counter.count();
    let target = Number.POSITIVE_INFINITY;
    const began = mark(pair, baseline);
    const stored = waitForCount(pair, counter, baseline, () => target);
    const accepted = await stream(pair.a, rooms, LIVE_EVENTS, "live");
    const sent = mark(pair, counter.count());
    target = baseline + accepted;
    const { done } = await stored;
    return {
      ingestRate: accepted / ((done.at - began.at) / 1000),
      sendRate: accepted / ((sent.at - began.at) / 1000),
      storedWhileSending: sent.count - baseline,
      lagMs: done.at - sent.at,
      busySending: busy(began, sent),
      busyAfter: busy(sent, done),
    };
  } finally {
    counter.close();
  }
}

/**
 * B alone: B is down while A's clients send, so A's outbound queue holds a backlog; once B is
 * back, A's single sender drains it and only the federation pipeline sets the pace.
 */
async function ingestBacklog(pair: Pair, rooms: readonly CrossRoom[]) {
  const before = eventCounter(pair.b);
  const baseline = before.count();
  before.close();
  await pair.b.stop();
  const accepted = await stream(pair.a, rooms, BACKLOG_EVENTS, "backlog");
  await pair.b.restart();
  const counter = eventCounter(pair.b);
  try {
    const { first, done } = await waitForCount(pair, counter, baseline, () => baseline + accepted);
    return {
      ingestRate: (done.count - first.count) / ((done.at - first.at) / 1000),
      busy: busy(first, done),
    };
  } finally {
    counter.close();
  }
}

interface SyncReply {
  next_batch: string;
  rooms?: {
    join?: Record<string, { timeline: { events: Array<{ event_id: string }> } }>;
    invite?: Record<string, unknown>;
  };
  to_device?: { events: Array<{ sender: string; type: string }> };
}

async function sync(server: ServerProcess, user: User, since?: string, timeout = 0): Promise<SyncReply> {
  const query = `?timeout=${timeout}&filter=${SYNC_FILTER}${since ? `&since=${since}` : ""}`;
  const reply = await call(server.url, "GET", `/_matrix/client/v3/sync${query}`, user.token);
  if (reply.status !== 200) throw new Error(`sync failed: ${JSON.stringify(reply.body)}`);
  return reply.body as unknown as SyncReply;
}

/** B's users long-poll /sync and note when each event ID first arrives. */
function startSyncers(b: ServerProcess, receivers: readonly User[], arrivals: Map<string, number>) {
  let running = true;
  const loops = receivers.map(async (receiver) => {
    let since = (await sync(b, receiver)).next_batch;
    while (running) {
      const reply = await sync(b, receiver, since, 1_000);
      const now = performance.now();
      since = reply.next_batch;
      for (const room of Object.values(reply.rooms?.join ?? {})) {
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

/**
 * Figure 2: a fixed rate of sends on A; each event's latency from its send to B's /sync. Events
 * sent in the warm-up are reported apart.
 */
async function paced(pair: Pair, rooms: readonly CrossRoom[]) {
  const arrivals = new Map<string, number>();
  const stop = startSyncers(
    pair.b,
    rooms.map((room) => room.receiver),
    arrivals,
  );
  await sleep(500);
  const sent: Array<{ eventId: string; started: number; warmUp: boolean }> = [];
  const warmUp = Math.round((PACED_RATE * PACED_WARMUP_MS) / 1000);
  const total = warmUp + Math.round((PACED_RATE * PACED_MS) / 1000);
  const began = performance.now();
  const pending: Promise<void>[] = [];
  for (let n = 0; n < total; n++) {
    const wait = began + (n * 1000) / PACED_RATE - performance.now();
    if (wait > 1) await sleep(wait);
    const room = rooms[n % rooms.length] as CrossRoom;
    const ciphertext = room.ciphertexts[n % room.ciphertexts.length] as string;
    pending.push(
      sendEncrypted(pair.a, room.sender, room.roomId, `paced${n}`, ciphertext).then((result) => {
        if (result.ok) sent.push({ ...result, warmUp: n < warmUp });
      }),
    );
  }
  await Promise.all(pending);
  const deadline = performance.now() + 10_000;
  while (sent.some((s) => !arrivals.has(s.eventId)) && performance.now() < deadline) await sleep(100);
  await stop();
  const latencies = (warm: boolean) =>
    sent.flatMap((s) => {
      const arrived = arrivals.get(s.eventId);
      return s.warmUp !== warm || arrived === undefined ? [] : [arrived - s.started];
    });
  const measured = latencies(false);
  return {
    sent: sent.filter((s) => !s.warmUp).length,
    delivered: measured.length,
    p50: percentile(measured, 50),
    p99: percentile(measured, 99),
    warmUpP99: percentile(latencies(true), 99),
  };
}

interface HistoryRoom {
  readonly history: number;
  readonly roomId: string;
  readonly sender: User;
  readonly member: MlsMember;
}

/** A room on A alone (B is not in `servers`) with `history` encrypted events. */
async function roomWithHistory(a: ServerProcess, sender: User, history: number): Promise<HistoryRoom> {
  const { roomId, member } = await roomOnA(a, sender);
  const ciphertext = await member.encrypt(JSON.stringify({ type: "m.room.message", content: { body: "x" } }));
  await inParallel(history, CONCURRENCY, async (n) => {
    const result = await sendEncrypted(a, sender, roomId, `h${n}`, ciphertext);
    if (!result.ok) throw new Error("a history event was refused");
  });
  return { history, roomId, sender, member };
}

/**
 * A's invite of a user of B, retried as the SDK retries it (src/client/rooms/roomRecord.ts): B
 * refuses it under D15 while it still holds the room at the commit before the one that adds it.
 */
async function inviteWithRetries(a: ServerProcess, inviter: User, roomId: string, userId: string) {
  for (let retries = 0; ; retries++) {
    const reply = await call(a.url, "POST", `${roomPath(roomId)}/invite`, inviter.token, { user_id: userId });
    if (reply.status === 200) return retries;
    if (retries === INVITE_RETRIES) throw new Error(`remote invite failed: ${JSON.stringify(reply.body)}`);
    await sleep(INVITE_RETRY_MS);
  }
}

/**
 * Figure 3: from the commit that adds B's user (and B to `servers`) until that user has joined
 * and their first /sync after the join returned. In between: the Welcome over to-device, A's
 * invite (B learns the room's create event and commit chain from A), B's user seeing both.
 */
async function timeJoin(pair: Pair, room: HistoryRoom, joiner: string) {
  const { a, b } = pair;
  const user = await register(b, joiner);
  const device = newMlsDevice(user.userId, user.deviceId);
  const keyPackage = await newKeyPackage(device);
  await call(b.url, "POST", "/_matrix/client/v3/keys/upload", user.token, {
    device_keys: deviceKeys(device),
    one_time_keys: { [keyPackage.keyId]: keyPackage.value },
  });
  let since = (await sync(b, user)).next_batch;
  // The inviter's client work (claiming across servers, building the commit) comes before the clock.
  const claimed = await claimKeyPackage(a.url, room.sender.token, user.userId, user.deviceId);
  const add = await room.member.commit(fed([a.serverName, b.serverName]), [
    MlsMember.readKeyPackage(claimed),
  ]);

  const began = performance.now();
  const invitedAndWelcomed = (async () => {
    let invited = false;
    let welcomed = false;
    while (!(invited && welcomed)) {
      const reply = await sync(b, user, since, 5_000);
      since = reply.next_batch;
      invited ||= reply.rooms?.invite?.[room.roomId] !== undefined;
      welcomed ||= (reply.to_device?.events ?? []).some((e) => e.sender === room.sender.userId);
    }
  })();
  invitedAndWelcomed.catch(() => undefined); // awaited below; a failure before then must not go unhandled
  await sendCommit(a, room.sender, room.roomId, add.ciphertext);
  add.adopt();
  const toDevice = await call(
    a.url,
    "PUT",
    `/_matrix/client/v3/sendToDevice/m.room.encrypted/w${joiner}`,
    room.sender.token,
    {
      messages: { [user.userId]: { [user.deviceId]: { algorithm: MLS_ALGORITHM, ciphertext: add.welcome } } },
    },
  );
  if (toDevice.status !== 200) throw new Error(`Welcome not sent: ${JSON.stringify(toDevice.body)}`);
  const inviteRetries = await inviteWithRetries(a, room.sender, room.roomId, user.userId);
  await invitedAndWelcomed;
  const joined = await call(b.url, "POST", `${roomPath(room.roomId)}/join`, user.token, {});
  if (joined.status !== 200) throw new Error(`join failed: ${JSON.stringify(joined.body)}`);
  const first = await sync(b, user, since, 5_000);
  if (first.rooms?.join?.[room.roomId] === undefined) throw new Error("the joined room is not in /sync");
  return { ms: performance.now() - began, inviteRetries };
}

async function joins(pair: Pair) {
  const sender = await register(pair.a, "historian");
  const rooms: HistoryRoom[] = [];
  for (let round = 0; round < JOIN_ROUNDS; round++)
    for (const history of HISTORIES) rooms.push(await roomWithHistory(pair.a, sender, history));
  // A warm-up join, so that the first measured one pays no one-off costs.
  await timeJoin(pair, await roomWithHistory(pair.a, sender, 10), "warmup");
  const times = new Map<number, number[]>(HISTORIES.map((h) => [h, []]));
  let inviteRetries = 0;
  for (const [i, room] of rooms.entries()) {
    const join = await timeJoin(pair, room, `joiner${i}`);
    times.get(room.history)?.push(join.ms);
    inviteRetries += join.inviteRetries;
  }
  return {
    inviteRetries,
    medians: HISTORIES.map((history) => {
      const all = times.get(history) ?? [];
      return { history, ms: percentile(all, 50), all };
    }),
  };
}

/** Partitions measured (servers' time), rounds of each, and the real time a partition takes. */
const PARTITIONS = [60_000, 600_000] as const;
const HEAL_ROUNDS = 3;
const PARTITION_REAL_MS = 10_000;
const HEAL_TIMEOUT_MS = 120_000;

/**
 * Issue 16: A's client sends while the link to B is cut and both servers' clocks run through
 * `partitionMs` (A's backoff grows as in a real outage); then the link heals. The time from the
 * heal until B has stored the event.
 */
async function healTime(pair: PartitionPair, room: CrossRoom, partitionMs: number, tag: string) {
  const counter = eventCounter(pair.b);
  try {
    const baseline = counter.count();
    pair.cut();
    const ciphertext = room.ciphertexts[0] as string;
    if (!(await sendEncrypted(pair.a, room.sender, room.roomId, tag, ciphertext)).ok)
      throw new Error("the event sent during the partition was refused");
    await pair.fastForward(partitionMs, PARTITION_REAL_MS);
    pair.restore();
    const healed = performance.now();
    while (counter.count() <= baseline) {
      if (performance.now() - healed > HEAL_TIMEOUT_MS) {
        console.error(`--- server A log (tail) ---\n${pair.a.logs().slice(-6000)}`);
        throw new Error("nothing delivered after the heal");
      }
      await sleep(POLL_MS);
    }
    return performance.now() - healed;
  } finally {
    counter.close();
  }
}

async function heals() {
  const pair = await startPartitionPair();
  try {
    const sender = await register(pair.a, "cutsender");
    const receiver = await register(pair.b, "cutreceiver");
    const room = await crossRoom(pair, sender, receiver);
    const times = new Map<number, number[]>(PARTITIONS.map((p) => [p, []]));
    for (let round = 0; round < HEAL_ROUNDS; round++)
      for (const partitionMs of PARTITIONS)
        times.get(partitionMs)?.push(await healTime(pair, room, partitionMs, `cut${round}-${partitionMs}`));
    return PARTITIONS.map((partitionMs) => ({ partitionMs, all: times.get(partitionMs) ?? [] }));
  } finally {
    await pair.close();
  }
}

const ms = (value: number) => `${value.toFixed(1)} ms`;

console.log(`machine: ${describeMachine()}`);
if (process.env.BENCH_HEAL_ONLY !== undefined) {
  await reportHeals();
  closeClient();
  process.exit(0);
}
const starting = performance.now();
// BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles both server processes.
const pair = await startPair(process.env.BENCH_SERVER_NODE_ARGS?.split(" ").filter(Boolean));
try {
  console.log(
    `servers A ${pair.a.serverName} (pid ${pair.a.pid()}), B ${pair.b.serverName} (pid ${pair.b.pid()}): started in ${(performance.now() - starting).toFixed(0)} ms`,
  );
  process.stdout.write(`setting up ${ROOMS} rooms across A and B with real MLS groups...\n`);
  const senders = await inParallel(ROOMS, 8, (i) => register(pair.a, `sender${i}`));
  const receivers = await inParallel(ROOMS, 8, (i) => register(pair.b, `receiver${i}`));
  const rooms = await inParallel(ROOMS, 4, (i) => crossRoom(pair, senders[i] as User, receivers[i] as User));

  process.stdout.write(`${LIVE_EVENTS} events from ${CONCURRENCY} concurrent senders on A...\n`);
  const live = await ingestLive(pair, rooms);
  console.log(
    `PDUs ingested by B with full checks, A sending live: ${live.ingestRate.toFixed(0)} /s (target >= 2,000)`,
  );
  console.log(
    `  A accepted ${live.sendRate.toFixed(0)} /s; B had stored ${live.storedWhileSending} by A's last answer, ` +
      `the rest ${ms(live.lagMs)} later; CPU while A's clients sent: ${live.busySending}; after: ${live.busyAfter}`,
  );
  process.stdout.write(`${BACKLOG_EVENTS} events queued on A while B is down, then B restarted...\n`);
  const backlog = await ingestBacklog(pair, rooms);
  console.log(
    `PDUs ingested by B with full checks, draining A's backlog: ${backlog.ingestRate.toFixed(0)} /s (target >= 2,000)`,
  );
  console.log(`  CPU while draining: ${backlog.busy}`);

  process.stdout.write(
    `steady ${PACED_RATE} events/s on A for ${(PACED_WARMUP_MS + PACED_MS) / 1000} s (the first ${PACED_WARMUP_MS / 1000} s not counted), ${ROOMS} long-polling users on B...\n`,
  );
  const steady = await paced(pair, rooms);
  console.log(
    `origin-to-remote-sync latency: p50 ${ms(steady.p50)}, p99 ${ms(steady.p99)} (target p99 < 100 ms); ${steady.delivered}/${steady.sent} seen`,
  );
  console.log(`  p99 in the warm-up, not counted: ${ms(steady.warmUpP99)}`);
  process.stdout.write(
    `B joining rooms of A with ${HISTORIES.join(" and ")} events of history (median of ${JOIN_ROUNDS})...\n`,
  );
  const { medians, inviteRetries } = await joins(pair);
  const [small, large] = medians;
  console.log(
    `join with ${small?.history} events: ${ms(small?.ms ?? NaN)}; with ${large?.history} events: ${ms(large?.ms ?? NaN)}; ` +
      `ratio ${((large?.ms ?? NaN) / (small?.ms ?? NaN)).toFixed(2)} (target: does not grow with history, ratio ~1)`,
  );
  for (const { history, all } of medians)
    console.log(`  joins with ${history} events: ${all.map((t) => t.toFixed(1)).join(", ")} ms`);
  if (inviteRetries > 0)
    console.log(
      `(invites retried ${inviteRetries} times: B refused them under D15 until it had stored the adding commit)`,
    );
} catch (error) {
  // The servers log at "error" level only: their last lines usually say what went wrong.
  for (const [name, server] of [
    ["A", pair.a],
    ["B", pair.b],
  ] as const)
    console.error(`--- server ${name} log (tail) ---\n${server.logs().slice(-4000)}`);
  throw error;
} finally {
  await pair.close();
}
try {
  await reportHeals();
} finally {
  closeClient();
}

async function reportHeals() {
  process.stdout.write(
    `partitions of 60 s and 10 min between two servers (clocks moved), default retry settings, ${HEAL_ROUNDS} rounds...\n`,
  );
  const [short, long] = await heals();
  const line = (figure: { partitionMs: number; all: number[] } | undefined) =>
    `${ms(percentile(figure?.all ?? [], 50))} (max ${ms(Math.max(...(figure?.all ?? [NaN])))})`;
  console.log(
    `time from heal to first delivery: after a 60 s partition ${line(short)}; after a 10-minute partition ${line(long)} (target < 5 s for both)`,
  );
}
