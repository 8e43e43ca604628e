// PostgreSQL backend: a pool for reads, one dedicated client for the single writer.
import pg from "pg";
import type { Database, Migrations, SqlValue } from "./database.js";
import { databaseOver, GroupCommitWriter, type WriterConnection } from "./groupCommit.js";
import { migrate, readStreamHead } from "./migrations.js";

const INT8_OID = 20;
// BIGINT columns hold stream positions and timestamps, all far below 2^53: read them as numbers.
const types = {
  getTypeParser: ((oid: number, format?: string) =>
    oid === INT8_OID
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format as "text")) as typeof pg.types.getTypeParser,
};

const converted = new Map<string, string>();

/** `?` placeholders to `$1, $2, ...` (our SQL never has `?` inside string literals). */
function toPostgres(sql: string): string {
  let text = converted.get(sql);
  if (text === undefined) {
    let index = 0;
    text = sql.replace(/\?/g, () => `$${++index}`);
    converted.set(sql, text);
  }
  return text;
}

function queryable(client: pg.Pool | pg.PoolClient): WriterConnection {
  const query = async (sql: string, params: readonly SqlValue[] = []) =>
    client.query(toPostgres(sql), params as unknown[]);
  return {
    all: async <T>(sql: string, params?: readonly SqlValue[]) => (await query(sql, params)).rows as T[],
    get: async <T>(sql: string, params?: readonly SqlValue[]) =>
      (await query(sql, params)).rows[0] as T | undefined,
    run: async (sql: string, params?: readonly SqlValue[]) => ({
      changes: (await query(sql, params)).rowCount ?? 0,
    }),
    exec: async (sql: string) => {
      await client.query(sql);
    },
  };
}

export async function openPostgres(url: string, components: readonly Migrations[]): Promise<Database> {
  const pool = new pg.Pool({ connectionString: url, max: 10, types });
  const writerClient = await pool.connect();
  const writer = queryable(writerClient);
  try {
    await migrate(writer, components);
  } catch (error) {
    writerClient.release();
    await pool.end();
    throw error;
  }
  const reader = queryable(pool);
  const groupCommit = new GroupCommitWriter(writer, await readStreamHead(writer));
  return databaseOver("postgres", reader, groupCommit, async () => {
    writerClient.release();
    await pool.end();
  });
}
