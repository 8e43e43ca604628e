// Schema versions per component, applied in order at start-up; each version in one transaction.
import type { Migrations } from "./database.js";
import type { WriterConnection } from "./groupCommit.js";

const CORE: Migrations = {
  component: "core",
  versions: [
    [
      "CREATE TABLE stream_head (id INTEGER PRIMARY KEY, position BIGINT NOT NULL)",
      "INSERT INTO stream_head (id, position) VALUES (1, 0)",
    ],
  ],
};

export async function migrate(
  connection: WriterConnection,
  components: readonly Migrations[],
): Promise<void> {
  await connection.exec(
    "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)",
  );
  for (const { component, versions } of [CORE, ...components]) {
    const row = await connection.get<{ version: number }>(
      "SELECT version FROM schema_versions WHERE component = ?",
      [component],
    );
    const current = row?.version ?? 0;
    if (current > versions.length) {
      throw new Error(
        `database schema of ${component} is version ${current}, newer than this server knows (${versions.length})`,
      );
    }
    for (let version = current + 1; version <= versions.length; version++) {
      await connection.exec("BEGIN");
      try {
        for (const statement of versions[version - 1] ?? []) await connection.exec(statement);
        await connection.run(
          "INSERT INTO schema_versions (component, version) VALUES (?, ?) ON CONFLICT (component) DO UPDATE SET version = excluded.version",
          [component, version],
        );
        await connection.exec("COMMIT");
      } catch (error) {
        await connection.exec("ROLLBACK");
        throw error;
      }
    }
  }
}

export async function readStreamHead(connection: WriterConnection): Promise<number> {
  const row = await connection.get<{ position: number }>("SELECT position FROM stream_head WHERE id = 1");
  return Number(row?.position ?? 0);
}
