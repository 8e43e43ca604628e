// docs/privacy.md describes every table and column the server stores (metadata at rest): this
// reads its `### table` headings and the backticked column names of the list under each, and the
// live schema of a running server (SQLite sqlite_master and table_info, PostgreSQL
// information_schema), and fails on any table or column that one has and the other lacks.
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openServerDatabase } from "../helpers/serverDatabase.js";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";

/** Table name → documented column names, from the `### name` sections and their `- ` lists. */
function documentedSchema(markdown: string): Map<string, string[]> {
  const tables = new Map<string, string[]>();
  let columns: string[] | undefined;
  for (const line of markdown.split("\n")) {
    const heading = /^### (\S+)\s*$/.exec(line);
    if (heading) {
      columns = [];
      tables.set(heading[1] as string, columns);
    } else if (/^#{1,2} /.test(line)) {
      columns = undefined;
    } else if (columns !== undefined && line.startsWith("- ")) {
      // The names before the first colon: "- `user_id`, `device_id`: the device."
      const names = line.split(":")[0] ?? "";
      for (const match of names.matchAll(/`([a-z0-9_]+)`/g)) columns.push(match[1] as string);
    }
  }
  return tables;
}

const sorted = (schema: Map<string, string[]>) =>
  Object.fromEntries([...schema].sort(([a], [b]) => a.localeCompare(b)).map(([t, c]) => [t, [...c].sort()]));

describe.each(BACKENDS)("docs/privacy.md on %s", (backend) => {
  let server: ServerProcess;

  beforeAll(async () => {
    server = await startServerProcess({ backend });
  });
  afterAll(async () => {
    await server.destroy();
  });

  it("describes exactly the tables and columns of the live schema", async () => {
    const db = await openServerDatabase(server);
    try {
      const live = await db.schema();
      const documented = documentedSchema(readFileSync("docs/privacy.md", "utf8"));
      expect(sorted(documented)).toEqual(sorted(live));
    } finally {
      await db.close();
    }
  });
});
