// Setup for npm run bench:federation: two compiled homeservers on loopback, their names pinned to
// each other over plain HTTP (no proxies in between, unlike test/helpers/federation.ts), users,
// and rooms spanning both servers made with real MLS commits through the client API; and a
// second pair linked through proxies that can be cut, for the partition heal figure.
import Sqlite from "better-sqlite3";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fed, MlsMember } from "../test/helpers/mlsMember.js";
import { MLS_ALGORITHM } from "../test/helpers/keyPackages.js";
import { freePort, startServerProcess, type ServerProcess } from "../test/helpers/serverProcess.js";
import { startTcpProxy } from "../test/helpers/tcpProxy.js";
import { call } from "./httpClient.js";

const UNLIMITED = "1000000";
const CIPHERTEXTS_PER_ROOM = 16;
/** USER_HZ: Linux reports process CPU times in 1/100 s on every architecture Node runs on. */
const CLOCK_TICKS_PER_SECOND = 100;

export { inParallel, percentile, register, type User } from "./benchUtil.js";
import type { User } from "./benchUtil.js";

export interface Pair {
  /** The origin: its clients send. */
  readonly a: ServerProcess;
  /** The receiver: it ingests what `a` sends. */
  readonly b: ServerProcess;
  close(): Promise<void>;
}

/** Both servers as `npm start` runs them (dist/), on SQLite, rate limits out of the way. */
export async function startPair(nodeArgs?: readonly string[]): Promise<Pair> {
  const ports = [await freePort(), await freePort()];
  const pins = ports.map((port) => `localhost:${port}=http://127.0.0.1:${port}`).join(",");
  const start = (port: number) =>
    startServerProcess({
      port,
      compiled: true,
      ...(nodeArgs ? { nodeArgs } : {}),
      env: {
        MYELIN_LOG_LEVEL: "error",
        MYELIN_FEDERATION_PINS: pins,
        MYELIN_FEDERATION_ALLOW_PLAIN_HTTP: "loopback",
        MYELIN_FEDERATION_RETRY_INITIAL_MS: "200",
        MYELIN_FEDERATION_RETRY_MAX_MS: "1000",
        MYELIN_REQUESTS_PER_SECOND: UNLIMITED,
        MYELIN_REQUEST_BURST: UNLIMITED,
        MYELIN_FEDERATION_REQUESTS_PER_SECOND: UNLIMITED,
        MYELIN_FEDERATION_REQUEST_BURST: UNLIMITED,
      },
    });
  const a = await start(ports[0] as number);
  const b = await start(ports[1] as number).catch(async (error: unknown) => {
    await a.destroy();
    throw error;
  });
  return {
    a,
    b,
    close: async () => {
      await Promise.all([a.destroy(), b.destroy()]);
    },
  };
}

export function roomPath(roomId: string): string {
  return `/_matrix/client/v3/rooms/${encodeURIComponent(roomId)}`;
}

/** Sends a commit as a client of the first power does; throws unless the server accepts it. */
export async function sendCommit(server: ServerProcess, user: User, roomId: string, ciphertext: string) {
  const reply = await call(server.url, "PUT", `${roomPath(roomId)}/state/de.bwi.mls.commit/`, user.token, {
    algorithm: MLS_ALGORITHM,
    ciphertext,
  });
  if (reply.status !== 200) throw new Error(`commit refused: ${JSON.stringify(reply.body)}`);
}

/** A room created on `a` by its sender, with `a` alone in `servers` (its epoch-0 commit sent). */
export async function roomOnA(a: ServerProcess, sender: User, servers: string[] = [a.serverName]) {
  const created = await call(a.url, "POST", "/_matrix/client/v3/createRoom", sender.token, {});
  const roomId = created.body.room_id as string;
  const member = await MlsMember.create(roomId, sender.userId);
  const commit = await member.commit(fed(servers));
  await sendCommit(a, sender, roomId, commit.ciphertext);
  commit.adopt();
  return { roomId, member };
}

export interface CrossRoom {
  readonly roomId: string;
  readonly sender: User;
  readonly receiver: User;
  /** Real MLS application messages of the sender (1 KiB), reused round-robin: the server cannot tell. */
  readonly ciphertexts: readonly string[];
}

/**
 * A room whose epoch-0 commit lists both servers; the sender (on a) invites the receiver (on b),
 * who joins, so that everything sent on a is delivered to b.
 */
export async function crossRoom(pair: Pair, sender: User, receiver: User): Promise<CrossRoom> {
  const { roomId, member } = await roomOnA(pair.a, sender, [pair.a.serverName, pair.b.serverName]);
  const invited = await call(pair.a.url, "POST", `${roomPath(roomId)}/invite`, sender.token, {
    user_id: receiver.userId,
  });
  if (invited.status !== 200) throw new Error(`remote invite failed: ${JSON.stringify(invited.body)}`);
  const joined = await call(pair.b.url, "POST", `${roomPath(roomId)}/join`, receiver.token, {});
  if (joined.status !== 200) throw new Error(`remote join failed: ${JSON.stringify(joined.body)}`);
  const ciphertexts: string[] = [];
  for (let m = 0; m < CIPHERTEXTS_PER_ROOM; m++) {
    const body = JSON.stringify({ type: "m.room.message", content: { body: "x".repeat(1024) } });
    ciphertexts.push(await member.encrypt(body));
  }
  return { roomId, sender, receiver, ciphertexts };
}

export interface Sent {
  readonly ok: boolean;
  readonly eventId: string;
  /** performance.now() when the request left. */
  readonly started: number;
}

export async function sendEncrypted(
  server: ServerProcess,
  user: User,
  roomId: string,
  txn: string,
  ciphertext: string,
): Promise<Sent> {
  const started = performance.now();
  const reply = await call(
    server.url,
    "PUT",
    `${roomPath(roomId)}/send/m.room.encrypted/${txn}`,
    user.token,
    {
      algorithm: MLS_ALGORITHM,
      ciphertext,
    },
  );
  return { ok: reply.status === 200, eventId: reply.body.event_id as string, started };
}

/**
 * Counts the events a server has stored, reading its SQLite file beside it (WAL readers never
 * block the writer): the cheapest exact answer to "has it stored them all yet".
 */
export function eventCounter(server: ServerProcess): { count(): number; close(): void } {
  const db = new Sqlite(server.database, { readonly: true, fileMustExist: true });
  const statement = db.prepare<[], { n: number }>("SELECT COUNT(*) AS n FROM events");
  return { count: () => (statement.get() as { n: number }).n, close: () => db.close() };
}

/** CPU seconds (user + system) the server's current process has used: how busy it was in a phase. */
export function cpuSeconds(server: ServerProcess): number {
  const pid = server.pid();
  if (pid === undefined) return NaN;
  // Fields 14 and 15 of /proc/PID/stat (after the parenthesised command name), in clock ticks.
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

export interface PartitionPair extends Pair {
  /** Cuts the link between the servers both ways (connections refused, as when a route is down). */
  cut(): void;
  restore(): void;
  /** Moves both servers' clocks forward by `ms`, spread over `overMs` of real time. */
  fastForward(ms: number, overMs: number): Promise<void>;
}

/**
 * Two servers as startPair() makes them, but linked through TCP proxies that can be cut, with
 * clocks moved through offset files, and the retry settings left at their defaults (issue 16:
 * the time from a partition's heal to the first delivery).
 */
export async function startPartitionPair(): Promise<PartitionPair> {
  const ports = [await freePort(), await freePort()] as const;
  const names = ports.map((port) => `localhost:${port}`);
  // toB: how A reaches B; toA: how B reaches A.
  const toB = await startTcpProxy(ports[1]);
  const toA = await startTcpProxy(ports[0]);
  const clockDir = mkdtempSync(join(tmpdir(), "myelin-bench-clocks-"));
  const clockFiles = [join(clockDir, "a"), join(clockDir, "b")];
  const offsets = [0, 0];
  const writeOffset = (i: number) => {
    writeFileSync(`${clockFiles[i]}.new`, String(offsets[i]));
    renameSync(`${clockFiles[i]}.new`, clockFiles[i] as string);
  };
  const start = (i: number, pin: string) => {
    writeOffset(i);
    return startServerProcess({
      port: ports[i] as number,
      compiled: true,
      env: {
        MYELIN_LOG_LEVEL: process.env.BENCH_LOG ?? "error",
        MYELIN_FEDERATION_PINS: pin,
        MYELIN_FEDERATION_ALLOW_PLAIN_HTTP: "loopback",
        MYELIN_CLOCK_OFFSET_FILE: clockFiles[i] as string,
        MYELIN_REQUESTS_PER_SECOND: UNLIMITED,
        MYELIN_REQUEST_BURST: UNLIMITED,
        MYELIN_FEDERATION_REQUESTS_PER_SECOND: UNLIMITED,
        MYELIN_FEDERATION_REQUEST_BURST: UNLIMITED,
      },
    });
  };
  const a = await start(0, `${names[1]}=${toB.url}`);
  const b = await start(1, `${names[0]}=${toA.url}`);
  return {
    a,
    b,
    cut: () => [toA, toB].forEach((proxy) => proxy.cut()),
    restore: () => [toA, toB].forEach((proxy) => proxy.restore()),
    fastForward: async (ms, overMs) => {
      const steps = Math.max(1, Math.round(overMs / 100));
      for (let step = 0; step < steps; step++) {
        for (const i of [0, 1]) {
          offsets[i] = (offsets[i] as number) + ms / steps;
          writeOffset(i);
        }
        await new Promise((resolve) => setTimeout(resolve, overMs / steps));
      }
    },
    close: async () => {
      await Promise.all([a.destroy(), b.destroy()]);
      await Promise.all([toA.close(), toB.close()]);
      rmSync(clockDir, { recursive: true, force: true });
    },
  };
}
