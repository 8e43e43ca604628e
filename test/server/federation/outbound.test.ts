// The outbound queue over a real database (SQLite and PostgreSQL) and a loopback peer that
// records transactions and probes: order, limits per transaction, each item once, retries with
// the same transaction ID, exponential backoff while a peer is down for hours, probes of a peer
// that cannot be reached (issue 16), resuming after a restart with the backoff it had, and what
// happens to a transaction a peer refuses. Time is virtual: each timer moves a fake clock.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyBaseLogger } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nodeSigner } from "../../../src/platform/nodeCrypto.js";
import {
  createOutboundQueue,
  MAX_REJECTIONS,
  type ManagedOutboundQueue,
  type OutboundQueueOptions,
} from "../../../src/server/federation/outbound/outboundQueue.js";
import type { Clock } from "../../../src/server/clock.js";
import { PROBE_PATH } from "../../../src/server/federation/outbound/outboundQueue.js";
import type { Scheduler } from "../../../src/server/federation/outbound/scheduler.js";
import { outboundMigrations } from "../../../src/server/federation/outbound/schema.js";
import { createFederationClient } from "../../../src/server/federation/transport/federationClient.js";
import { createHttpTransport } from "../../../src/server/federation/transport/httpTransport.js";
import { parseXMatrix } from "../../../src/server/federation/transport/xMatrix.js";
import type { Edu, OutboundQueue } from "../../../src/server/federationTypes.js";
import { roomMigrations } from "../../../src/server/rooms/roomSchema.js";
import type { Database } from "../../../src/server/storage/database.js";
import { openDatabase } from "../../../src/server/storage/open.js";
import { BACKENDS, createPostgresDatabase } from "../../helpers/serverProcess.js";
import { json, startHttpServer, type LocalHttpServer } from "./federationPeer.js";

const ORIGIN = "sender.test";
const INITIAL_MS = 1_000;
const MAX_MS = 3_600_000;
const PROBE_MS = 4_000;

interface Received {
  readonly destination: string;
  readonly txnId: string;
  readonly status: number;
  readonly body: { origin: string; pdus: { n: number }[]; edus?: Edu[] };
}

/** A logger that keeps warnings and errors for the assertions. */
function recordingLogger(lines: string[]): FastifyBaseLogger {
  const keep = (level: string) => (object: unknown, message?: string) =>
    lines.push(`${level} ${message ?? ""} ${JSON.stringify(object)}`);
  const log = { warn: keep("warn"), error: keep("error"), info: () => {}, debug: () => {}, trace: () => {} };
  return {
    ...log,
    fatal: keep("fatal"),
    child: () => log,
    level: "info",
    silent: () => {},
  } as unknown as FastifyBaseLogger;
}

/** Timers that fire at once (or never), keeping the delays asked for and moving `clock` by them. */
function testScheduler(fire = true): Scheduler & { delays: number[]; clock: Clock } {
  const delays: number[] = [];
  let now = Date.now();
  return {
    delays,
    clock: { now: () => now },
    setTimeout: (callback, ms) => {
      delays.push(ms);
      if (!fire) return undefined;
      return setTimeout(() => {
        now += ms;
        callback();
      }, 1);
    },
    clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  };
}

async function until(condition: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe.each(BACKENDS)("outbound queue on %s", (backend) => {
  let db: Database;
  let peer: LocalHttpServer;
  let cleanup: () => Promise<void>;
  const received: Received[] = [];
  /** Per destination: the HTTP status to answer to the n-th attempt (0-based); 200 when absent. */
  const answers = new Map<string, (attempt: number) => number>();
  const attempts = new Map<string, number>();
  /** Per destination: the HTTP status to answer to probes (200 when absent), and their number. */
  const probeAnswers = new Map<string, () => number>();
  const probes = new Map<string, number>();
  const transport = createHttpTransport({ allowPlainHttp: "loopback" });
  const queues: OutboundQueue[] = [];
  let nextEvent = 0;

  beforeAll(async () => {
    const migrations = [roomMigrations, outboundMigrations];
    if (backend === "postgres") {
      const postgres = await createPostgresDatabase();
      db = await openDatabase(postgres.url, migrations);
      cleanup = postgres.drop;
    } else {
      const dir = mkdtempSync(join(tmpdir(), "myelin-outbound-"));
      db = await openDatabase(join(dir, "outbound.db"), migrations);
      cleanup = async () => rmSync(dir, { recursive: true, force: true });
    }
    peer = await startHttpServer((request, body, response) => {
      if (request.url === PROBE_PATH) {
        const host = request.headers.host ?? "";
        probes.set(host, (probes.get(host) ?? 0) + 1);
        const status = probeAnswers.get(host)?.() ?? 200;
        return json(response, status, status === 200 ? { server: { name: "test" } } : {});
      }
      const destination = parseXMatrix(request.headers.authorization ?? "")?.destination ?? "";
      const attempt = attempts.get(destination) ?? 0;
      attempts.set(destination, attempt + 1);
      const status = answers.get(destination)?.(attempt) ?? 200;
      const txnId = decodeURIComponent((request.url ?? "").split("/").pop() ?? "");
      received.push({ destination, txnId, status, body: JSON.parse(body) as Received["body"] });
      if (status === 200) json(response, 200, { pdus: {} });
      else json(response, status, { errcode: "M_UNKNOWN", error: `answered ${status}` });
    });
  });
  afterAll(async () => {
    await Promise.all(queues.map((queue) => queue.close()));
    transport.close();
    await peer.close();
    await db.close();
    await cleanup();
  });

  type TestScheduler = ReturnType<typeof testScheduler>;

  function queueOptions(options: { scheduler?: TestScheduler; logs?: string[] } = {}): OutboundQueueOptions {
    const scheduler = options.scheduler ?? testScheduler();
    const client = createFederationClient({
      serverName: ORIGIN,
      signer: nodeSigner("ed25519:out", new Uint8Array(32).fill(4)),
      transport,
      // Every destination is the recording peer, which tells them apart by the X-Matrix destination
      // (or, for unsigned probes, the Host header).
      resolver: { resolve: async (name) => ({ url: peer.url, hostHeader: name, pinned: true }) },
    });
    return {
      serverName: ORIGIN,
      db,
      client,
      clock: scheduler.clock,
      log: recordingLogger(options.logs ?? []),
      retryInitialMs: INITIAL_MS,
      retryMaxMs: MAX_MS,
      probeIntervalMs: PROBE_MS,
      scheduler,
      // No jitter: the delays are exact.
      random: () => 0,
      clockCheckMs: Number.POSITIVE_INFINITY,
    };
  }

  function queue(options: { scheduler?: TestScheduler; logs?: string[] } = {}): ManagedOutboundQueue {
    const made = createOutboundQueue(queueOptions(options));
    queues.push(made);
    return made;
  }

  /** Stores PDUs {n} in `events` and queues them for `destination`, in one write. */
  async function enqueuePdus(q: OutboundQueue, destination: string, count: number): Promise<number[]> {
    const numbers: number[] = [];
    await db.write(async (tx) => {
      for (let i = 0; i < count; i++) {
        const n = nextEvent++;
        numbers.push(n);
        await tx.run(
          "INSERT INTO events (event_id, room_id, position, type, state_key, pdu) VALUES (?, ?, ?, ?, NULL, ?)",
          [
            `$event${n}`,
            "!room:sender.test",
            tx.nextStreamPosition(),
            "m.room.encrypted",
            JSON.stringify({ n }),
          ],
        );
        await q.enqueuePdu(tx, [destination], `$event${n}`);
      }
    });
    q.wake();
    return numbers;
  }

  const delivered = (destination: string) =>
    received.filter((r) => r.destination === destination && r.status === 200);
  const deliveredPdus = (destination: string) =>
    delivered(destination).flatMap((r) => r.body.pdus.map((p) => p.n));
  const queuedCount = async (destination: string) =>
    Number(
      (
        await db.get<{ count: number | string }>(
          "SELECT COUNT(*) AS count FROM federation_outbound_items WHERE destination = ?",
          [destination],
        )
      )?.count ?? 0,
    );

  it("delivers PDUs and EDUs in order, each once, at most 50 PDUs and 100 EDUs per transaction", async () => {
    const q = queue();
    const destination = "order.peer.test";
    const pdus: number[] = [];
    const edus: Edu[] = [];
    await db.write(async (tx) => {
      for (let i = 0; i < 150; i++) {
        if (i < 120) {
          const n = nextEvent++;
          pdus.push(n);
          await tx.run(
            "INSERT INTO events (event_id, room_id, position, type, state_key, pdu) VALUES (?, ?, ?, ?, NULL, ?)",
            [
              `$event${n}`,
              "!room:sender.test",
              tx.nextStreamPosition(),
              "m.room.encrypted",
              JSON.stringify({ n }),
            ],
          );
          await q.enqueuePdu(tx, [destination], `$event${n}`);
        }
        const edu = { edu_type: "m.test", content: { i } };
        edus.push(edu);
        await q.enqueueEdu(tx, destination, edu);
      }
    });
    q.wake();
    await until(
      async () => (await queuedCount(destination)) === 0 && deliveredPdus(destination).length === 120,
    );
    const transactions = delivered(destination);
    expect(transactions.map((t) => [t.body.pdus.length, t.body.edus?.length ?? 0])).toEqual([
      [50, 50],
      [50, 50],
      [20, 50],
    ]);
    expect(deliveredPdus(destination)).toEqual(pdus);
    expect(transactions.flatMap((t) => t.body.edus ?? [])).toEqual(edus);
    expect(new Set(transactions.map((t) => t.txnId)).size).toBe(3);
    expect(transactions.every((t) => t.body.origin === ORIGIN)).toBe(true);
  });

  it("sends a failed transaction again with the same ID and items, then deletes them after the 200", async () => {
    const destination = "retry.peer.test";
    answers.set(destination, (attempt) => (attempt < 2 ? 500 : 200));
    const q = queue();
    const pdus = await enqueuePdus(q, destination, 3);
    await until(async () => (await queuedCount(destination)) === 0);
    const tries = received.filter((r) => r.destination === destination);
    expect(tries.map((t) => t.status)).toEqual([500, 500, 200]);
    expect(new Set(tries.map((t) => t.txnId)).size).toBe(1);
    expect(tries.every((t) => JSON.stringify(t.body.pdus) === JSON.stringify(pdus.map((n) => ({ n }))))).toBe(
      true,
    );
  });

  it("backs off from 1 s, doubling up to 1 h, while a peer fails for hours; then delivers everything", async () => {
    const destination = "down.peer.test";
    const downFor = 16;
    // 500: the peer answers, so probing it would tell nothing; only the backoff applies.
    answers.set(destination, (attempt) => (attempt < downFor ? 500 : 200));
    const scheduler = testScheduler();
    const q = queue({ scheduler });
    const pdus = [...(await enqueuePdus(q, destination, 2)), ...(await enqueuePdus(q, destination, 2))];
    await until(async () => (await queuedCount(destination)) === 0, 20_000);
    const expected = Array.from({ length: downFor }, (_, i) => Math.min(INITIAL_MS * 2 ** i, MAX_MS));
    expect(scheduler.delays).toEqual(expected);
    expect(expected.reduce((a, b) => a + b, 0)).toBeGreaterThan(5 * 3_600_000);
    expect(deliveredPdus(destination)).toEqual(pdus);
  });

  it("starts the backoff again from 1 s after a success", async () => {
    const destination = "flaky.peer.test";
    answers.set(destination, (attempt) => (attempt === 0 || attempt === 2 ? 503 : 200));
    const scheduler = testScheduler();
    const q = queue({ scheduler });
    await enqueuePdus(q, destination, 1);
    await until(async () => delivered(destination).length === 1);
    await enqueuePdus(q, destination, 1);
    await until(async () => delivered(destination).length === 2);
    expect(scheduler.delays).toEqual([INITIAL_MS, INITIAL_MS]);
  });

  it("resumes after a restart: a new queue on the same database sends what the old one left", async () => {
    const destination = "restart.peer.test";
    let up = false;
    answers.set(destination, () => (up ? 200 : 503));
    const first = queue({ scheduler: testScheduler(false) });
    const pdus = await enqueuePdus(first, destination, 5);
    await until(() => received.some((r) => r.destination === destination));
    await first.close();
    up = true;
    const second = queue();
    await second.start();
    await until(async () => (await queuedCount(destination)) === 0);
    expect(deliveredPdus(destination)).toEqual(pdus);
    const tries = received.filter((r) => r.destination === destination);
    expect(new Set(tries.map((t) => t.txnId)).size).toBe(1);
  });

  it(`drops a transaction refused with a 4xx ${MAX_REJECTIONS} times, logs it, and goes on with the next`, async () => {
    const destination = "refusing.peer.test";
    answers.set(destination, (attempt) => (attempt < MAX_REJECTIONS ? 400 : 200));
    const logs: string[] = [];
    const q = queue({ logs });
    const pdus = await enqueuePdus(q, destination, 60);
    await until(async () => (await queuedCount(destination)) === 0);
    expect(deliveredPdus(destination)).toEqual(pdus.slice(50));
    expect(logs.some((line) => line.startsWith("error a peer refused a transaction repeatedly"))).toBe(true);
  });

  it("keeps retrying a transaction answered 401 (the peer could not check our key yet)", async () => {
    const destination = "unauthorized.peer.test";
    answers.set(destination, (attempt) => (attempt < MAX_REJECTIONS + 2 ? 401 : 200));
    const q = queue();
    const pdus = await enqueuePdus(q, destination, 2);
    await until(async () => (await queuedCount(destination)) === 0);
    expect(deliveredPdus(destination)).toEqual(pdus);
  });

  it("retries at once, backoff reset, when the peer talks to us (peerSeen)", async () => {
    const destination = "back.peer.test";
    let up = false;
    answers.set(destination, () => (up ? 200 : 500));
    const scheduler = testScheduler(false);
    const q = queue({ scheduler });
    await enqueuePdus(q, destination, 1);
    await until(() => scheduler.delays.length === 1);
    up = true;
    q.peerSeen(destination);
    await until(async () => (await queuedCount(destination)) === 0);
    expect(delivered(destination)).toHaveLength(1);
    expect(q.retryState(destination)).toEqual({ kind: "idle" });
  });

  it("probes a peer it cannot reach on the probe interval, not once per transaction, and sends once a probe answers", async () => {
    const destination = "partitioned.peer.test";
    let up = false;
    answers.set(destination, () => (up ? 200 : 503));
    probeAnswers.set(destination, () => (up ? 200 : 503));
    const scheduler = testScheduler();
    const q = queue({ scheduler });
    const pdus: number[] = [];
    // 120 PDUs queued while it is down: three transactions, one sent at a time.
    for (let i = 0; i < 4; i++) pdus.push(...(await enqueuePdus(q, destination, 30)));
    await until(() => (probes.get(destination) ?? 0) >= 30);
    up = true;
    await until(async () => (await queuedCount(destination)) === 0);
    const puts = received.filter((r) => r.destination === destination);
    // About 2 minutes of virtual time went by: 30 probes 4 s apart, and only the backoff's
    // attempts (1, 2, 4, ... 64 s) with the same transaction, then the three deliveries.
    expect(puts.filter((r) => r.status !== 200).length).toBeLessThanOrEqual(8);
    expect(new Set(puts.filter((r) => r.status !== 200).map((r) => r.txnId)).size).toBe(1);
    expect(scheduler.delays.filter((ms) => ms === PROBE_MS).length).toBeGreaterThanOrEqual(25);
    expect(deliveredPdus(destination)).toEqual(pdus);
  });

  it("keeps the backoff across a restart instead of sending at once to a peer that failed", async () => {
    const destination = "crashloop.peer.test";
    answers.set(destination, () => 500);
    const first = queue({ scheduler: testScheduler(false) });
    await enqueuePdus(first, destination, 1);
    await until(async () => first.retryState(destination).kind === "backingOff");
    await until(
      async () =>
        (await db.get("SELECT failures FROM federation_outbound_backoff WHERE destination = ?", [
          destination,
        ])) !== undefined,
    );
    await first.close();
    const sentBefore = received.filter((r) => r.destination === destination).length;
    const scheduler = testScheduler(false);
    const second = queue({ scheduler });
    await second.start();
    await until(() => scheduler.delays.length === 1);
    expect(received.filter((r) => r.destination === destination).length).toBe(sentBefore);
    expect(second.retryState(destination)).toMatchObject({ kind: "backingOff", failures: 1 });
  });

  it("queues nothing when the enqueuing write rolls back", async () => {
    const destination = "rollback.peer.test";
    const q = queue();
    await expect(
      db.write(async (tx) => {
        await q.enqueueEdu(tx, destination, { edu_type: "m.test", content: {} });
        throw new Error("the caller's write fails");
      }),
    ).rejects.toThrow("the caller's write fails");
    q.wake();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await queuedCount(destination)).toBe(0);
    expect(received.filter((r) => r.destination === destination)).toEqual([]);
  });

  it("never queues anything for its own server name", async () => {
    const q = queue();
    await db.write((tx) => q.enqueueEdu(tx, ORIGIN, { edu_type: "m.test", content: {} }));
    expect(await queuedCount(ORIGIN)).toBe(0);
  });
});
