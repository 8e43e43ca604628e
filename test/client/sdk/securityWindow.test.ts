// security.window (section 3): a client keeps a past epoch's secrets for at most the window, then
// deletes them. Driven by an injected clock, never by sleeping.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MyelinClient } from "../../../src/client/client.js";
import { retainedEpochs, decodeGroupState } from "../../../src/client/mls/engine.js";
import { openSqliteStore } from "../../../src/client/store/sqliteStore.js";
import type { ClientStore } from "../../../src/client/store/clientStore.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { PASSWORD } from "../../helpers/sdkClients.js";

describe("security.window on the client", () => {
  let server: ServerProcess;
  let dir: string;
  let now = 1_700_000_000_000;
  let store: ClientStore;
  let alice: MyelinClient;
  let roomId: string;
  const retained = async () => retainedEpochs(decodeGroupState((await store.get("groups", roomId))!));

  beforeAll(async () => {
    server = await startServerProcess();
    dir = mkdtempSync(join(tmpdir(), "myelin-window-"));
    store = await openSqliteStore(join(dir, "store.sqlite"));
    alice = await MyelinClient.register({
      baseUrl: server.url,
      username: "alice",
      password: PASSWORD,
      store,
      now: () => now,
    });
    roomId = await alice.createRoom({ window: 60, requiredVerification: "m.none" });
    await alice.setTopic(roomId, "a second epoch");
  }, 60_000);

  afterAll(async () => {
    await alice?.close();
    await server?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps the epochs left while the window lasts", async () => {
    now += 59_000;
    await alice.syncOnce(0);
    expect(await retained()).toEqual([0n, 1n]);
  });

  it("deletes them once the window has passed", async () => {
    now += 2_000;
    await alice.syncOnce(0);
    expect(await retained()).toEqual([]);
  });
});
