// Real homeserver processes for tests: each on a free loopback port with its own data directory,
// on SQLite or on a fresh PostgreSQL database. Every process started is stopped by stop().
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";

export type Backend = "sqlite" | "postgres";
export const BACKENDS: readonly Backend[] = ["sqlite", "postgres"];

/** PostgreSQL as the machines run it: 127.0.0.1:5432, trust auth. */
export const POSTGRES_ADMIN_URL =
  process.env.MYELIN_TEST_POSTGRES ?? "postgres://postgres@127.0.0.1:5432/postgres";

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port")),
      );
    });
  });
}

export async function createPostgresDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `myelin_test_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export interface ServerProcess {
  readonly url: string;
  /** The running process's ID (changes on restart). */
  pid(): number | undefined;
  readonly serverName: string;
  readonly dataDir: string;
  readonly database: string;
  /** Everything the server logged so far. */
  logs(): string;
  /** SIGTERM and wait (or SIGKILL with `kill: true`); keeps the data for a restart. */
  stop(options?: { kill?: boolean }): Promise<void>;
  /** Starts the server again on the same port, data directory and database. */
  restart(): Promise<void>;
  /** Stops the server and deletes its data (and PostgreSQL database). */
  destroy(): Promise<void>;
}

export interface ServerOptions {
  readonly backend?: Backend;
  /** Extra arguments for node itself, such as --cpu-prof. */
  readonly nodeArgs?: readonly string[];
  /** Run the compiled server in dist/ (npm run build) as `npm start` does, instead of the sources. */
  readonly compiled?: boolean;
  readonly env?: Record<string, string>;
  /** The port to listen on (default: a free one), for servers that must know each other's address first. */
  readonly port?: number;
}

export async function startServerProcess(options: ServerOptions = {}): Promise<ServerProcess> {
  const port = options.port ?? (await freePort());
  const dataDir = mkdtempSync(join(tmpdir(), "myelin-test-"));
  const postgres = options.backend === "postgres" ? await createPostgresDatabase() : undefined;
  const database = postgres?.url ?? join(dataDir, "myelin.db");
  const serverName = `localhost:${port}`;
  let output = "";
  let child: ChildProcess | undefined;

  const launch = async (): Promise<void> => {
    // Compiled, it runs as `npm start` does (package.json): fewer malloc arenas, a smaller young
    // generation; together they keep the server's memory low under load.
    const entry = options.compiled
      ? ["--max-semi-space-size=8", "dist/server/main.js"]
      : ["--import", "tsx", "src/server/main.ts"];
    const proc = spawn(process.execPath, [...(options.nodeArgs ?? []), ...entry], {
      env: {
        ...process.env,
        MYELIN_LISTEN_HOST: "127.0.0.1",
        MYELIN_LISTEN_PORT: String(port),
        MYELIN_SERVER_NAME: serverName,
        MYELIN_DATA_DIR: dataDir,
        MYELIN_DATABASE: database,
        MYELIN_LOG_LEVEL: "info",
        // Tests sign up and log in many users from loopback, some with wrong passwords on purpose;
        // the tests of these limits (loginLimits.test.ts) set their own.
        MYELIN_AUTH_ATTEMPTS_PER_MINUTE: "1000000",
        MYELIN_AUTH_ATTEMPT_BURST: "1000000",
        MYELIN_AUTH_FAILURES_PER_MINUTE: "1000000",
        MYELIN_AUTH_FAILURE_BURST: "1000000",
        ...(options.compiled ? { MALLOC_ARENA_MAX: "2" } : {}),
        ...options.env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = proc;
    proc.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    proc.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
    // Ready once it answers /versions (log lines depend on the configured level).
    const deadline = Date.now() + 20_000;
    for (;;) {
      if (proc.exitCode !== null)
        throw new Error(`server exited with ${proc.exitCode} before listening:\n${output}`);
      if (Date.now() > deadline) throw new Error(`server did not start within 20 s:\n${output}`);
      try {
        const reply = await fetch(`http://127.0.0.1:${port}/_matrix/client/versions`);
        if (reply.ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  const stop = async ({ kill = false } = {}): Promise<void> => {
    const proc = child;
    child = undefined;
    if (proc === undefined || proc.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
    proc.kill(kill ? "SIGKILL" : "SIGTERM");
    await exited;
  };

  await launch();
  return {
    url: `http://127.0.0.1:${port}`,
    pid: () => child?.pid,
    serverName,
    dataDir,
    database,
    logs: () => output,
    stop,
    restart: launch,
    destroy: async () => {
      await stop();
      await postgres?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
