// The controllable clock for tests of real server processes (clock_offset_file /
// MYELIN_CLOCK_OFFSET_FILE): Date.now() plus the milliseconds in a file, read again when the file
// changes, 0 when it is missing or unreadable. Federation uses it for key validity (and the rooms
// code for the section 6 commit windows).
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { offsetFileClock } from "../../../src/server/clock.js";
import type { ServerKeysResponse } from "../../../src/server/federation/transport/serverKeys.js";
import { request } from "../../helpers/http.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";

const DAY = 24 * 3_600_000;

describe("the offset file clock", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "myelin-clock-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("is the system time while the file is missing", () => {
    const clock = offsetFileClock(join(dir, "missing"));
    expect(Math.abs(clock.now() - Date.now())).toBeLessThan(50);
  });

  it("adds the milliseconds in the file, and reads the file again when it changes", () => {
    const file = join(dir, "offset");
    writeFileSync(file, "600000\n");
    const clock = offsetFileClock(file);
    expect(clock.now() - Date.now()).toBeGreaterThan(599_900);
    writeFileSync(file, "-60000");
    utimesSync(file, new Date(), new Date(Date.now() + 1_000)); // a different mtime, whatever the file system's resolution
    expect(clock.now() - Date.now()).toBeLessThan(-59_900);
  });

  it("counts a file that holds no integer as 0", () => {
    const file = join(dir, "garbage");
    writeFileSync(file, "soon");
    expect(Math.abs(offsetFileClock(file).now() - Date.now())).toBeLessThan(50);
  });
});

describe("a server process with MYELIN_CLOCK_OFFSET_FILE", () => {
  let dir: string;
  let file: string;
  let server: ServerProcess;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "myelin-clock-"));
    file = join(dir, "offset");
    server = await startServerProcess({ env: { MYELIN_CLOCK_OFFSET_FILE: file } });
  });
  afterAll(async () => {
    await server.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  const validUntil = async () =>
    (await request<ServerKeysResponse>(server.url, "GET", "/_matrix/key/v2/server")).body.valid_until_ts;

  it("runs on the system time until the file exists", async () => {
    expect(Math.abs((await validUntil()) - (Date.now() + DAY))).toBeLessThan(5_000);
  });

  it("moves its time when the test writes an offset", async () => {
    writeFileSync(file, String(10 * DAY));
    expect(Math.abs((await validUntil()) - (Date.now() + 11 * DAY))).toBeLessThan(5_000);
  });
});
