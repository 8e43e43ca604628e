// The SDK on the browser's storage: a client whose store is IndexedDB (fake-indexeddb, a real
// implementation in memory) creates a room, chats, and carries on after reopening the store.
import { IDBFactory, IDBKeyRange } from "fake-indexeddb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MyelinClient } from "../../../src/client/client.js";
import { openIndexedDbStore } from "../../../src/client/store/indexedDbStore.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import {
  PASSWORD,
  registerClient,
  removeStoreFolders,
  syncAll,
  texts,
  type TestClient,
} from "../../helpers/sdkClients.js";

describe("the SDK on an IndexedDB store", () => {
  let server: ServerProcess;
  const factory = new IDBFactory();
  const open = () => openIndexedDbStore({ name: "myelin", factory, keyRange: IDBKeyRange });
  let browser: MyelinClient;
  let bob: TestClient;
  let roomId: string;

  beforeAll(async () => {
    server = await startServerProcess();
    browser = await MyelinClient.register({
      baseUrl: server.url,
      username: "alice",
      password: PASSWORD,
      store: await open(),
    });
    bob = await registerClient(server.url, "bob");
    roomId = await browser.createRoom({ name: "from the browser", requiredVerification: "m.tofu" });
    await browser.invite(roomId, bob.client.userId);
    await syncAll([bob]);
    await bob.client.join(roomId);
    await browser.sendText(roomId, "hello from IndexedDB");
    await browser.close();
    browser = await MyelinClient.open({ store: await open() });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await bob?.client.close();
    await server?.destroy();
    removeStoreFolders();
  });

  it("keeps the room, its name and the history in IndexedDB across a reopen", async () => {
    const room = browser.rooms().find((r) => r.roomId === roomId);
    expect({
      name: room?.name,
      history: (await browser.messages(roomId)).map((m) => m.content.body),
    }).toEqual({
      name: "from the browser",
      history: ["hello from IndexedDB"],
    });
  });

  it("reads a reply after the reopen", async () => {
    await syncAll([bob]);
    await bob.client.sendText(roomId, "hello browser");
    await browser.syncOnce(0);
    expect((await browser.messages(roomId)).map((m) => m.content.body)).toEqual([
      "hello from IndexedDB",
      "hello browser",
    ]);
    expect(texts(bob.events, roomId)).toEqual(["hello from IndexedDB", "hello browser"]);
  });
});
