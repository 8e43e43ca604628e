// Reads a test server's database directly, on either backend, to check what it keeps at rest.
// SQL uses `?` placeholders (turned into `$n` for PostgreSQL), as the server's own does.
import BetterSqlite3 from "better-sqlite3";
import pg from "pg";
import type { ServerProcess } from "./serverProcess.js";

export interface ServerDatabase {
  all<T = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  /** Tables and their columns, as the live schema has them (internal tables left out). */
  schema(): Promise<Map<string, string[]>>;
  close(): Promise<void>;
}

export async function openServerDatabase(server: Pick<ServerProcess, "database">): Promise<ServerDatabase> {
  if (/^postgres(ql)?:\/\//.test(server.database)) {
    const client = new pg.Client({ connectionString: server.database });
    await client.connect();
    const all = async <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> => {
      let index = 0;
      const text = sql.replace(/\?/g, () => `$${++index}`);
      return (await client.query(text, params as unknown[])).rows as T[];
    };
    return {
      all,
      schema: async () => {
        const rows = await all<{ table_name: string; column_name: string }>(
          `SELECT table_name, column_name FROM information_schema.columns
           WHERE table_schema = 'public' ORDER BY table_name, ordinal_position`,
        );
        return group(rows.map((row) => [row.table_name, row.column_name]));
      },
      close: () => client.end(),
    };
  }
  const db = new BetterSqlite3(server.database, { readonly: true, fileMustExist: true });
  const all = async <T>(sql: string, params: readonly unknown[] = []): Promise<T[]> =>
    db.prepare(sql).all(...params) as T[];
  return {
    all,
    schema: async () => {
      const tables = db
        .prepare(
          "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .all() as { name: string }[];
      const pairs: [string, string][] = [];
      for (const { name } of tables) {
        for (const column of db.pragma(`table_info(${JSON.stringify(name)})`) as { name: string }[]) {
          pairs.push([name, column.name]);
        }
      }
      return group(pairs);
    },
    close: async () => {
      db.close();
    },
  };
}

function group(pairs: readonly (readonly [string, string])[]): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  for (const [table, column] of pairs) {
    const columns = tables.get(table) ?? [];
    columns.push(column);
    tables.set(table, columns);
  }
  return tables;
}

/** Polls `check` until it holds (the pruning job runs on its own timer), or throws after `ms`. */
export async function eventually(check: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error("condition not reached in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
