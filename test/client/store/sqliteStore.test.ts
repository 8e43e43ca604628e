// What only the SQLite backend promises: deleted secrets leave no bytes on disk, and the schema is versioned.
import BetterSqlite3 from "better-sqlite3";
import { randomBytes } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openSqliteStore } from "../../../src/client/store/sqliteStore.js";
import { temporarySqliteFile } from "./backends.js";

describe("SQLite client store", () => {
  let file: Awaited<ReturnType<typeof temporarySqliteFile>>;

  beforeEach(async () => {
    file = await temporarySqliteFile();
  });
  afterEach(async () => {
    await file.remove();
  });

  /** The database file and its WAL, as an attacker who copies the disk would see them. */
  const diskBytes = (): Buffer =>
    Buffer.concat(
      [file.path, `${file.path}-wal`].filter((path) => existsSync(path)).map((path) => readFileSync(path)),
    );

  /** How many 32-byte pieces of the secret are on disk: a large value is split across overflow pages. */
  const tracesOf = (secret: Buffer): number => {
    const disk = diskBytes();
    let found = 0;
    for (let start = 0; start + 32 <= secret.length; start += 32) {
      if (disk.includes(secret.subarray(start, start + 32))) found++;
    }
    return found;
  };

  it.each([
    ["a small", 32],
    ["an overflowing", 20_000],
  ])("leaves no trace of %s deleted secret on disk", async (_size, length) => {
    const secret = randomBytes(length);
    const store = await openSqliteStore(file.path);
    await store.put("epochSecrets", "!room/3", secret);
    await store.put("groups", "!room", randomBytes(64));
    expect(tracesOf(secret)).toBeGreaterThan(0);
    await store.delete("epochSecrets", "!room/3");
    expect(tracesOf(secret)).toBe(0);
    await store.close();
  });

  it("leaves no trace of a secret deleted in a transaction on disk", async () => {
    const secret = randomBytes(32);
    const store = await openSqliteStore(file.path);
    await store.put("epochSecrets", "!room/3", secret);
    await store.transaction([{ op: "delete", ns: "epochSecrets", key: "!room/3" }]);
    expect(tracesOf(secret)).toBe(0);
    await store.close();
  });

  it("refuses a file written by a newer client", async () => {
    await (await openSqliteStore(file.path)).close();
    const raw = new BetterSqlite3(file.path);
    raw.prepare("UPDATE schema_version SET version = version + 1").run();
    raw.close();
    await expect(openSqliteStore(file.path)).rejects.toThrow(/newer than this client/);
  });
});
