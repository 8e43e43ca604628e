// openSqlite(":memory:") opens a writer and a reader connection: both must be one database, or
// every read fails with "no such table" (each plain ":memory:" connection is a database of its own).
import { readdirSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import type { Database, Migrations } from "../../../src/server/storage/database.js";
import { openSqlite } from "../../../src/server/storage/sqlite.js";

const NOTES: Migrations = {
  component: "notes",
  versions: [["CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"]],
};

describe('openSqlite(":memory:")', () => {
  const open: Database[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((db) => db.close()));
  });
  const memory = async () => {
    const db = await openSqlite(":memory:", [NOTES]);
    open.push(db);
    return db;
  };

  it("reads what its writer committed: the reader sees the writer's database", async () => {
    const db = await memory();
    await db.write((tx) => tx.run("INSERT INTO notes (id, text) VALUES (?, ?)", [1, "hello"]));
    expect(await db.get<{ text: string }>("SELECT text FROM notes WHERE id = ?", [1])).toEqual({
      text: "hello",
    });
  });

  it("keeps two in-memory databases apart", async () => {
    const first = await memory();
    const second = await memory();
    await first.write((tx) => tx.run("INSERT INTO notes (id, text) VALUES (?, ?)", [1, "first"]));
    expect(await second.all("SELECT id FROM notes")).toEqual([]);
  });

  it("writes no file: the database stays in memory", async () => {
    const before = new Set(readdirSync("."));
    const db = await memory();
    await db.write((tx) => tx.run("INSERT INTO notes (id, text) VALUES (?, ?)", [1, "kept in memory"]));
    expect(readdirSync(".").filter((name) => !before.has(name) && name.includes("memory"))).toEqual([]);
  });
});
