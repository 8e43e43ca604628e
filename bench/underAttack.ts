// The "under attack" part of `npm run bench:server` (issue 9): send latency of a normal paced load
// while hostile traffic runs beside it, and the server's peak memory. The attacks:
//   (a) 20 wrong-password logins per second: against the benchmark's users (the per-name limit
//       refuses most before hashing), and against fresh names (every one costs a password hash);
//       the per-address limit is lifted, as if the attacker had many addresses,
//   (b) 40 federation uploads announcing 12 MB that stall after their first bytes,
//   (c) 2,000 open /sync long polls.
// Targets (issue 9): send p99 < 50 ms and RSS < 300 MB in each case.
import { connect, type Socket } from "node:net";
import { Agent, request } from "node:http";
import { readFileSync } from "node:fs";
import type { ServerProcess } from "../test/helpers/serverProcess.js";
import { call } from "./httpClient.js";
import { inParallel, percentile, register, type User } from "./benchUtil.js";

const PACED_RATE = 200;
const PACED_MS = 5_000;
const LOGINS_PER_SECOND = 20;
const STALLED_UPLOADS = 40;
const STALLED_BYTES = 12 * 1024 * 1024;
const LONG_POLLS = 2_000;
const POLLERS = 50;

/** Sends message number n; resolves with whether it was accepted and its latency. */
export type SendOne = (n: number) => Promise<{ ok: boolean; latency: number }>;

interface Attack {
  readonly name: string;
  /** Set-up done once, before any measurement (so that it never runs beside another attack). */
  prepare?(server: ServerProcess): Promise<void>;
  /** Starts the attack; the returned function stops it and reports what the attacker saw. */
  start(server: ServerProcess, users: readonly User[]): Promise<() => Promise<string>>;
}

export function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8")
      .split("\n")
      .find((l) => l.startsWith("VmRSS:"));
    return Number(line?.split(/\s+/)[1]) / 1024;
  } catch {
    return NaN;
  }
}

/**
 * Wrong-password logins at LOGINS_PER_SECOND. Against the benchmark's own users the server's
 * per-name limit refuses most before any hashing; against a fresh made-up name each time every
 * attempt is hashed (unknown names are checked against a decoy hash), up to the hashing queue.
 */
function wrongLogins(target: "users" | "fresh names"): Attack {
  return {
    name: `${LOGINS_PER_SECOND} wrong-password logins/s (${target})`,
    async start(server, users) {
      const answers = new Map<number, number>();
      let running = true;
      let n = 0;
      const pending: Promise<void>[] = [];
      const timer = setInterval(() => {
        if (!running) return;
        n++;
        const user =
          target === "users" ? (users[n % users.length] as User).userId : `@guess${n}-${Date.now()}:x`;
        pending.push(
          call(server.url, "POST", "/_matrix/client/v3/login", undefined, {
            type: "m.login.password",
            identifier: { type: "m.id.user", user: user.replace(/:x$/, `:${server.serverName}`) },
            password: `wrong ${n}`,
          }).then(
            (reply) => void answers.set(reply.status, (answers.get(reply.status) ?? 0) + 1),
            () => void answers.set(0, (answers.get(0) ?? 0) + 1),
          ),
        );
      }, 1000 / LOGINS_PER_SECOND);
      return async () => {
        running = false;
        clearInterval(timer);
        await Promise.all(pending);
        return `answers ${[...answers].map(([status, count]) => `${status}x${count}`).join(" ")}`;
      };
    },
  };
}

const stalledUploads: Attack = {
  name: `${STALLED_UPLOADS} stalled 12 MB federation uploads`,
  async start(server) {
    const url = new URL(server.url);
    const sockets: Socket[] = [];
    const filler = Buffer.alloc(STALLED_BYTES - 1, 0x20);
    let closedByServer = 0;
    let answered = 0;
    for (let i = 0; i < STALLED_UPLOADS; i++) {
      const socket = connect(Number(url.port), url.hostname);
      socket.on("error", () => {});
      socket.on("data", () => answered++);
      socket.on("close", () => closedByServer++);
      socket.write(
        `PUT /_matrix/federation/v1/send/stall${i}-${Date.now()} HTTP/1.1\r\n` +
          `Host: ${server.serverName}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${STALLED_BYTES}\r\n` +
          `Authorization: X-Matrix origin="attacker${i}.example",destination="${server.serverName}",key="ed25519:a",sig="AAAA"\r\n\r\n`,
      );
      // All but the last byte, then nothing: the body never completes.
      socket.write(filler);
      sockets.push(socket);
    }
    return async () => {
      const report = `${answered} answered, ${closedByServer} closed by the server`;
      for (const socket of sockets) socket.destroy();
      return report;
    };
  },
};

// Users of their own, in no room, so nothing wakes the polls: they stay open throughout.
const pollers: User[] = [];
const since = new Map<string, string>();

const longPolls: Attack = {
  name: `${LONG_POLLS.toLocaleString("en")} open long polls`,
  async prepare(server) {
    pollers.push(...(await inParallel(POLLERS, 8, (i) => register(server, `poller${i}`))));
    for (const user of pollers) {
      const reply = await call(server.url, "GET", "/_matrix/client/v3/sync?timeout=0", user.token);
      since.set(user.token, reply.body.next_batch as string);
    }
  },
  async start(server) {
    const agent = new Agent({ keepAlive: false, maxSockets: LONG_POLLS + 10 });
    const url = new URL(server.url);
    let running = true;
    let answered = 0;
    const open = new Set<ReturnType<typeof request>>();
    const poll = (user: User): void => {
      if (!running) return;
      const req = request({
        agent,
        host: url.hostname,
        port: url.port,
        method: "GET",
        path: `/_matrix/client/v3/sync?timeout=60000&since=${since.get(user.token)}`,
        headers: { authorization: `Bearer ${user.token}` },
      });
      open.add(req);
      req.on("error", () => open.delete(req));
      req.on("response", (res) => {
        res.resume();
        res.on("end", () => {
          open.delete(req);
          answered++;
          poll(user);
        });
      });
      req.end();
    };
    for (let i = 0; i < LONG_POLLS; i++) poll(pollers[i % POLLERS] as User);
    // Let them all arrive before measuring.
    await new Promise((r) => setTimeout(r, 1_500));
    return async () => {
      running = false;
      const report = `${open.size} polls open, ${answered} answered early`;
      for (const req of open) req.destroy();
      agent.destroy();
      return report;
    };
  },
};

const ATTACKS: readonly Attack[] = [
  wrongLogins("users"),
  wrongLogins("fresh names"),
  stalledUploads,
  longPolls,
];
/** All at once: the logins that cost a hash each, the stalled uploads, the long polls. */
const ALL_AT_ONCE: readonly Attack[] = [ATTACKS[1] as Attack, stalledUploads, longPolls];

async function pacedSends(sendOne: SendOne, offset: number) {
  const latencies: number[] = [];
  let refused = 0;
  const total = Math.round((PACED_RATE * PACED_MS) / 1000);
  const began = performance.now();
  const pending: Promise<void>[] = [];
  for (let n = 0; n < total; n++) {
    const wait = began + (n * 1000) / PACED_RATE - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    pending.push(
      sendOne(offset + n).then((r) => {
        if (r.ok) latencies.push(r.latency);
        else refused++;
      }),
    );
  }
  await Promise.all(pending);
  return { p50: percentile(latencies, 50), p99: percentile(latencies, 99), refused };
}

async function measure(
  label: string,
  server: ServerProcess,
  sendOne: SendOne,
  offset: number,
  run: () => Promise<void>,
) {
  let peak = rssMiB(server.pid());
  const sampler = setInterval(() => (peak = Math.max(peak, rssMiB(server.pid()))), 200);
  const result = await pacedSends(sendOne, offset);
  await run();
  clearInterval(sampler);
  peak = Math.max(peak, rssMiB(server.pid()));
  console.log(
    `[${label}] send p50 ${result.p50.toFixed(1)} ms, p99 ${result.p99.toFixed(1)} ms (target < 50 ms), ` +
      `peak RSS ${peak.toFixed(0)} MiB (target < 300 MB)` +
      (result.refused > 0 ? `, ${result.refused} sends refused` : ""),
  );
}

/** Prints one line per attack, one with all of them at once, and a quiet baseline first. */
export async function underAttack(
  backend: string,
  server: ServerProcess,
  users: readonly User[],
  sendOne: SendOne,
): Promise<void> {
  process.stdout.write(
    `[${backend}] under attack: ${PACED_RATE} sends/s for ${PACED_MS / 1000} s beside each attack...\n`,
  );
  for (const attack of ATTACKS) await attack.prepare?.(server);
  let offset = 0;
  const next = () => (offset += 10_000);
  await measure(`${backend}, no attack`, server, sendOne, next(), async () => {});
  for (const attack of ATTACKS) {
    const stop = await attack.start(server, users);
    let report = "";
    await measure(`${backend}, ${attack.name}`, server, sendOne, next(), async () => {
      report = await stop();
    });
    console.log(`[${backend}]   attacker saw: ${report}`);
  }
  const stops: Array<() => Promise<string>> = [];
  for (const attack of ALL_AT_ONCE) stops.push(await attack.start(server, users));
  await measure(`${backend}, under attack (a+b+c at once)`, server, sendOne, next(), async () => {
    for (const stop of stops) await stop();
  });
}
