// Forward secrecy on the device (issue 4): what MLS says must be deleted is gone from the SQLite
// store's files, not merely unlinked: old epoch secrets (security.window, section 3), a removed
// member's group, a used one-time key package's private keys.
import { existsSync, readFileSync } from "node:fs";
import BetterSqlite3 from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeDeviceKeyPackage, decodeGroupState } from "../../../src/client/mls/engine.js";
import { startServerProcess, type ServerProcess } from "../../helpers/serverProcess.js";
import { registerClient, removeStoreFolders, syncAll, type TestClient } from "../../helpers/sdkClients.js";

function records(storePath: string, ns: string): { key: string; value: Uint8Array }[] {
  const db = new BetterSqlite3(storePath, { readonly: true });
  try {
    return (
      db.prepare("SELECT key, value FROM records WHERE ns = ?").all(ns) as { key: string; value: Buffer }[]
    ).map((row) => ({ key: row.key, value: new Uint8Array(row.value) }));
  } finally {
    db.close();
  }
}

function storedGroup(storePath: string, roomId: string) {
  const record = records(storePath, "groups").find((r) => r.key === roomId);
  return record ? decodeGroupState(record.value) : undefined;
}

/** True when the bytes are anywhere in the store's database file or its WAL. */
function onDisk(storePath: string, secret: Uint8Array): boolean {
  return [storePath, `${storePath}-wal`].some(
    (file) => existsSync(file) && readFileSync(file).includes(Buffer.from(secret)),
  );
}

describe("forward secrecy of the client store", () => {
  let server: ServerProcess;
  let alice: TestClient;
  let bob: TestClient;
  let carol: TestClient;
  let roomId: string;
  let bobsKeyPackages: Map<string, Uint8Array>;

  beforeAll(async () => {
    server = await startServerProcess();
    alice = await registerClient(server.url, "alice");
    bob = await registerClient(server.url, "bob");
    carol = await registerClient(server.url, "carol");
    bobsKeyPackages = new Map(
      records(bob.storePath, "keyPackages")
        .filter((r) => r.key.startsWith("otk:"))
        .map((r) => [r.key, decodeDeviceKeyPackage(r.value).privatePackage.initPrivateKey]),
    );
    roomId = await alice.client.createRoom({ requiredVerification: "m.tofu" });
    await alice.client.invite(roomId, bob.client.userId);
    await alice.client.invite(roomId, carol.client.userId);
    await syncAll([bob, carol]);
    await bob.client.join(roomId);
    await carol.client.join(roomId);
  }, 60_000);

  afterAll(async () => {
    for (const test of [alice, bob, carol]) await test?.client.close();
    await server?.destroy();
    removeStoreFolders();
  });

  it("deletes the one-time key package a Welcome used, private keys included", () => {
    const left = new Set(records(bob.storePath, "keyPackages").map((r) => r.key));
    const used = [...bobsKeyPackages].filter(([key]) => !left.has(key));
    expect(used).toHaveLength(1);
    expect(onDisk(bob.storePath, used[0]![1])).toBe(false);
  });

  it("deletes an epoch's secrets once the group moved on (security.window 0)", async () => {
    const before = storedGroup(bob.storePath, roomId)!;
    const secret = before.keySchedule.senderDataSecret.slice();
    expect(onDisk(bob.storePath, secret)).toBe(true);
    await alice.client.setTopic(roomId, "next epoch");
    await syncAll([bob]);
    expect(onDisk(bob.storePath, secret)).toBe(false);
  });

  it("deletes a removed member's group state and its secrets", async () => {
    await syncAll([carol]);
    const secret = storedGroup(carol.storePath, roomId)!.keySchedule.senderDataSecret.slice();
    await alice.client.removeUser(roomId, carol.client.userId);
    await syncAll([carol]);
    expect(storedGroup(carol.storePath, roomId)).toBeUndefined();
    expect(onDisk(carol.storePath, secret)).toBe(false);
  });
});
