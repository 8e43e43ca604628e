// The backends the shared behaviour suite runs against; each test gets a fresh, empty store.
import { IDBFactory, IDBKeyRange } from "fake-indexeddb";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ClientStore } from "../../../src/client/store/clientStore.js";
import { openIndexedDbStore } from "../../../src/client/store/indexedDbStore.js";
import { openMemoryStore, type MemoryRecords } from "../../../src/client/store/memoryStore.js";
import { openSqliteStore } from "../../../src/client/store/sqliteStore.js";

export interface StoreLocation {
  /** Opens the same storage each time, so a second open sees what the first one wrote. */
  open(): Promise<ClientStore>;
  remove(): Promise<void>;
}

export interface Backend {
  name: string;
  create(): Promise<StoreLocation>;
}

export async function temporarySqliteFile(): Promise<{ path: string; remove(): Promise<void> }> {
  const directory = await mkdtemp(join(tmpdir(), "myelin-client-store-"));
  return {
    path: join(directory, "client.sqlite"),
    remove: () => rm(directory, { recursive: true, force: true }),
  };
}

const sqlite: Backend = {
  name: "SQLite",
  create: async () => {
    const file = await temporarySqliteFile();
    return { open: () => openSqliteStore(file.path), remove: file.remove };
  },
};

const indexedDb: Backend = {
  name: "IndexedDB",
  create: async () => {
    const factory = new IDBFactory();
    return {
      open: () => openIndexedDbStore({ name: "myelin", factory, keyRange: IDBKeyRange }),
      remove: async () => undefined,
    };
  },
};

const memory: Backend = {
  name: "memory",
  create: async () => {
    const records: MemoryRecords = new Map();
    return { open: () => openMemoryStore(records), remove: async () => undefined };
  },
};

export const BACKENDS: readonly Backend[] = [sqlite, indexedDb, memory];
