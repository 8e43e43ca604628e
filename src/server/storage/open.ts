// Opens the configured backend: a `postgres://` (or `postgresql://`) URL, else a SQLite file path.
import type { Database, Migrations } from "./database.js";
import { openPostgres } from "./postgres.js";
import { openSqlite } from "./sqlite.js";

export function isPostgresUrl(database: string): boolean {
  return /^postgres(ql)?:\/\//.test(database);
}

export function openDatabase(database: string, components: readonly Migrations[]): Promise<Database> {
  return isPostgresUrl(database) ? openPostgres(database, components) : openSqlite(database, components);
}
