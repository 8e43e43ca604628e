// SQLite backend (the embedded default): one writer connection, one reader connection, WAL (an
// in-memory database has one connection).
import BetterSqlite3 from "better-sqlite3";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { dirname } from "node:path";
import type { Database, Migrations, SqlValue } from "./database.js";
import { databaseOver, GroupCommitWriter, type WriterConnection } from "./groupCommit.js";
import { migrate, readStreamHead } from "./migrations.js";

type Statement = BetterSqlite3.Statement<unknown[], unknown>;

function connect(path: string): { db: BetterSqlite3.Database; prepared: (sql: string) => Statement } {
  const db = new BetterSqlite3(path);
  db.pragma("journal_mode = WAL");
  // NORMAL: COMMIT does not fsync; the writer fsyncs the WAL itself after each batch, off the
  // event loop (see walSync), before any job of the batch is answered. Checkpoints still sync.
  db.pragma("synchronous = NORMAL");
  db.pragma("busy_timeout = 5000");
  db.pragma("foreign_keys = ON");
  const cache = new Map<string, Statement>();
  const prepared = (sql: string): Statement => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = db.prepare(sql);
      cache.set(sql, statement);
    }
    return statement;
  };
  return { db, prepared };
}

function queryable({ db, prepared }: ReturnType<typeof connect>): WriterConnection {
  return {
    all: async <T>(sql: string, params: readonly SqlValue[] = []) => prepared(sql).all(...params) as T[],
    get: async <T>(sql: string, params: readonly SqlValue[] = []) =>
      prepared(sql).get(...params) as T | undefined,
    run: async (sql: string, params: readonly SqlValue[] = []) => ({
      changes: prepared(sql).run(...params).changes,
    }),
    exec: async (sql: string) => {
      db.exec(sql);
    },
  };
}

/**
 * fdatasync of the WAL file on libuv's thread pool: with synchronous=NORMAL the committed frames
 * are only in the page cache, and this makes them durable without blocking the event loop the way
 * synchronous=FULL (an fsync inside COMMIT) does.
 */
function walSync(path: string): { sync(): Promise<void>; close(): Promise<void> } {
  let handle: Promise<FileHandle> | undefined;
  return {
    sync: async () => {
      handle ??= open(`${path}-wal`, "r+");
      await (await handle).datasync();
    },
    close: async () => {
      await (await handle)?.close();
    },
  };
}

/**
 * The database and its -wal and -shm files are readable by the server's user alone: they hold
 * every account's metadata (docs/privacy.md). SQLite gives the -wal and -shm files the database
 * file's mode, so creating that 0600 suffices; files of older versions are tightened too.
 */
function ownerOnly(path: string): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  closeSync(openSync(path, "a", 0o600));
  for (const file of [path, `${path}-wal`, `${path}-shm`]) if (existsSync(file)) chmodSync(file, 0o600);
}

const MEMORY = ":memory:";

export async function openSqlite(path: string, components: readonly Migrations[]): Promise<Database> {
  const inMemory = path === MEMORY;
  if (!inMemory) ownerOnly(path);
  const writerConnection = connect(path);
  // Again, now that WAL mode has made the -wal and -shm files.
  if (!inMemory) ownerOnly(path);
  const wal = inMemory ? undefined : walSync(path);
  const writer: WriterConnection = {
    ...queryable(writerConnection),
    ...(wal ? { sync: wal.sync } : {}),
  };
  await migrate(writer, components);
  // Each ":memory:" connection is a database of its own, and this SQLite build has no shared
  // cache (nor URI names): an in-memory database reads through its writer's connection, so its
  // reads also see the batch being written (it is not durable anyway).
  const readerConnection = inMemory ? writerConnection : connect(path);
  const reader = queryable(readerConnection);
  const groupCommit = new GroupCommitWriter(writer, await readStreamHead(writer));
  return databaseOver("sqlite", reader, groupCommit, async () => {
    await wal?.close();
    if (readerConnection !== writerConnection) readerConnection.db.close();
    writerConnection.db.close();
  });
}
