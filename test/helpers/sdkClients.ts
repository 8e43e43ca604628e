// SDK clients for end-to-end tests: each on its own SQLite store file, with every event it
// hands to the app recorded, against a real server process.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MyelinClient } from "../../src/client/client.js";
import type { ClientEvent } from "../../src/client/events.js";
import { openSqliteStore } from "../../src/client/store/sqliteStore.js";

export const PASSWORD = "correct horse battery staple";

export interface TestClient {
  client: MyelinClient;
  readonly storePath: string;
  readonly events: ClientEvent[];
}

const folders: string[] = [];

export function storeFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), "myelin-client-"));
  folders.push(dir);
  return dir;
}

export function removeStoreFolders(): void {
  for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
}

function recorded(client: MyelinClient, storePath: string, events: ClientEvent[] = []): TestClient {
  client.on((event) => events.push(event));
  return { client, storePath, events };
}

export async function registerClient(baseUrl: string, username: string): Promise<TestClient> {
  const storePath = join(storeFolder(), "store.sqlite");
  const client = await MyelinClient.register({
    baseUrl,
    username,
    password: PASSWORD,
    store: await openSqliteStore(storePath),
  });
  return recorded(client, storePath);
}

export async function loginClient(baseUrl: string, user: string): Promise<TestClient> {
  const storePath = join(storeFolder(), "store.sqlite");
  const client = await MyelinClient.login({
    baseUrl,
    user,
    password: PASSWORD,
    store: await openSqliteStore(storePath),
  });
  return recorded(client, storePath);
}

/** Closes the client and opens it again from its store, as a restarted app would. */
export async function reopen(test: TestClient): Promise<void> {
  await test.client.close();
  test.client = await MyelinClient.open({ store: await openSqliteStore(test.storePath) });
  test.client.on((event) => test.events.push(event));
}

/** A few sync passes for every client, so that everything sent so far has been seen. */
export async function syncAll(clients: readonly TestClient[], passes = 2): Promise<void> {
  for (let pass = 0; pass < passes; pass++) {
    for (const test of clients) await test.client.syncOnce(0);
  }
}

export function texts(events: readonly ClientEvent[], roomId: string): string[] {
  return events
    .filter(
      (e): e is Extract<ClientEvent, { kind: "message" }> => e.kind === "message" && e.roomId === roomId,
    )
    .map((e) => String(e.content.body));
}

export function errors(events: readonly ClientEvent[]): ClientEvent[] {
  return events.filter((e) => e.kind === "error");
}

/**
 * Syncs the clients again and again until `done` holds (events cross servers asynchronously);
 * throws with `what` after `timeoutMs`.
 */
export async function syncUntil(
  clients: readonly TestClient[],
  done: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const test of clients) await test.client.syncOnce(0);
    if (await done()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
