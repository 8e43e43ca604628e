// Metadata at rest: the data directory (signing key, SQLite database with its -wal and -shm)
// is the server's user's alone: the directory 0700, every file in it 0600, on a fresh start and
// after a restart over files an older version left readable to others.
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BACKENDS, startServerProcess, type ServerProcess } from "../helpers/serverProcess.js";
import { registerUser } from "../helpers/users.js";

const mode = (path: string) => statSync(path).mode & 0o777;

/** The directory's mode and each file's, by name. */
function modes(dir: string): { dir: number; files: Record<string, number> } {
  const files: Record<string, number> = {};
  for (const name of readdirSync(dir)) files[name] = mode(join(dir, name));
  return { dir: mode(dir), files };
}

describe.each(BACKENDS)("the data directory on %s", (backend) => {
  let server: ServerProcess;
  let base: string;
  let dataDir: string;
  let users = 0;

  beforeAll(async () => {
    // A data directory the server creates itself.
    base = mkdtempSync(join(tmpdir(), "myelin-modes-"));
    dataDir = join(base, "fresh", "data");
    server = await startServerProcess({
      backend,
      env: {
        MYELIN_DATA_DIR: dataDir,
        ...(backend === "sqlite" ? { MYELIN_DATABASE: join(dataDir, "myelin.db") } : {}),
      },
    });
    await registerUser(server.url, `modes${++users}`);
  });
  afterAll(async () => {
    await server.destroy();
    rmSync(base, { recursive: true, force: true });
  });

  it("is created 0700 with every file in it 0600", async () => {
    const { dir, files } = modes(dataDir);
    expect(dir.toString(8)).toBe("700");
    expect(Object.keys(files)).toContain("signing.key");
    if (backend === "sqlite")
      expect(Object.keys(files)).toEqual(expect.arrayContaining(["myelin.db", "myelin.db-wal"]));
    for (const [name, fileMode] of Object.entries(files))
      expect([name, fileMode.toString(8)]).toEqual([name, "600"]);
  });

  it("is made private again at start when its files were readable by others", async () => {
    await server.stop();
    chmodSync(dataDir, 0o755);
    for (const name of readdirSync(dataDir)) chmodSync(join(dataDir, name), 0o644);
    await server.restart();
    await registerUser(server.url, `modes${++users}`);
    const { dir, files } = modes(dataDir);
    expect(dir.toString(8)).toBe("700");
    for (const [name, fileMode] of Object.entries(files))
      expect([name, fileMode.toString(8)]).toEqual([name, "600"]);
  });
});
