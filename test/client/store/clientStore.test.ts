// One behaviour suite for every backend: the SDK must not be able to tell them apart.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ClientStore, StoreNamespace } from "../../../src/client/store/clientStore.js";
import { BACKENDS, type StoreLocation } from "./backends.js";

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe.each(BACKENDS)("$name client store", (backend) => {
  let location: StoreLocation;
  let store: ClientStore;

  beforeEach(async () => {
    location = await backend.create();
    store = await location.open();
  });
  afterEach(async () => {
    await store.close();
    await location.remove();
  });

  it("returns what was put", async () => {
    await store.put("groups", "!room", bytes("state"));
    expect(await store.get("groups", "!room")).toEqual(bytes("state"));
  });

  it("returns undefined for a missing key", async () => {
    expect(await store.get("groups", "!nowhere")).toBeUndefined();
  });

  it("replaces the value on a second put", async () => {
    await store.put("sync", "token", bytes("s1"));
    await store.put("sync", "token", bytes("s2"));
    expect(await store.get("sync", "token")).toEqual(bytes("s2"));
  });

  it("keeps namespaces apart", async () => {
    await store.put("groups", "k", bytes("group"));
    await store.put("outbox", "k", bytes("outbox"));
    expect(await store.get("groups", "k")).toEqual(bytes("group"));
  });

  it("forgets a deleted record", async () => {
    await store.put("epochSecrets", "!room/3", bytes("secret"));
    await store.delete("epochSecrets", "!room/3");
    expect(await store.get("epochSecrets", "!room/3")).toBeUndefined();
  });

  it("ignores deleting a missing record", async () => {
    await expect(store.delete("outbox", "absent")).resolves.toBeUndefined();
  });

  it("lists a namespace ordered by key", async () => {
    for (const key of ["b", "c", "a"]) await store.put("devices", key, bytes(key));
    await store.put("groups", "z", bytes("z"));
    expect(await store.list("devices")).toEqual([
      { key: "a", value: bytes("a") },
      { key: "b", value: bytes("b") },
      { key: "c", value: bytes("c") },
    ]);
  });

  it("lists only the keys starting with the prefix", async () => {
    for (const key of ["!a/1", "!a/2", "!ab/1", "!b/1", "!"])
      await store.put("epochSecrets", key, bytes(key));
    const keys = (await store.list("epochSecrets", "!a/")).map((record) => record.key);
    expect(keys).toEqual(["!a/1", "!a/2"]);
  });

  it("orders keys by UTF-16 code units, as JavaScript compares strings", async () => {
    for (const key of ["\u{1F600}", "\uFFFD", "a"]) await store.put("account", key, bytes(key));
    const keys = (await store.list("account")).map((record) => record.key);
    expect(keys).toEqual(["a", "\u{1F600}", "\uFFFD"]);
  });

  it("applies every op of a transaction", async () => {
    await store.put("outbox", "old", bytes("old"));
    await store.transaction([
      { op: "put", ns: "groups", key: "!room", value: bytes("epoch 4") },
      { op: "delete", ns: "outbox", key: "old" },
    ]);
    expect([await store.get("groups", "!room"), await store.get("outbox", "old")]).toEqual([
      bytes("epoch 4"),
      undefined,
    ]);
  });

  it("applies none of a transaction's ops when one fails", async () => {
    await store.put("epochSecrets", "!room/3", bytes("epoch 3"));
    const failing = store.transaction([
      { op: "put", ns: "groups", key: "!room", value: bytes("epoch 4") },
      { op: "delete", ns: "epochSecrets", key: "!room/3" },
      { op: "put", ns: "nonsense" as StoreNamespace, key: "x", value: bytes("x") },
    ]);
    await expect(failing).rejects.toThrow(/unknown store namespace/);
    expect([await store.get("groups", "!room"), await store.get("epochSecrets", "!room/3")]).toEqual([
      undefined,
      bytes("epoch 3"),
    ]);
  });

  it("keeps records across close and reopen", async () => {
    await store.put("groups", "!room", bytes("state"));
    await store.close();
    store = await location.open();
    expect(await store.get("groups", "!room")).toEqual(bytes("state"));
  });
});
