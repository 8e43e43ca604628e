// The client store in browsers: one IndexedDB object store whose keys are [namespace, key].
import { checkNamespace, type ClientStore, type StoreOp, type StoreRecord } from "./clientStore.js";

const RECORDS = "records";
const SCHEMA_VERSION = 1;

export interface IndexedDbStoreOptions {
  name: string;
  /** Defaults to the browser's; tests pass an in-memory implementation. */
  factory?: IDBFactory;
  keyRange?: typeof IDBKeyRange;
}

function settled<T>(request: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error ?? new Error("IndexedDB request failed"));
  });
}

function committed(transaction: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    transaction.oncomplete = () => resolve();
    transaction.onerror = () => reject(transaction.error ?? new Error("IndexedDB transaction failed"));
    transaction.onabort = () => reject(transaction.error ?? new Error("IndexedDB transaction aborted"));
  });
}

function openDatabase(factory: IDBFactory, name: string): Promise<IDBDatabase> {
  const request = factory.open(name, SCHEMA_VERSION);
  request.onupgradeneeded = () => request.result.createObjectStore(RECORDS);
  return settled(request);
}

/** Reads records from the cursor until the first key outside the prefix; they are contiguous. */
function collect(request: IDBRequest<IDBCursorWithValue | null>, prefix: string): Promise<StoreRecord[]> {
  const records: StoreRecord[] = [];
  return new Promise((resolve, reject) => {
    request.onerror = () => reject(request.error ?? new Error("IndexedDB cursor failed"));
    request.onsuccess = () => {
      const cursor = request.result;
      const key = cursor === null ? undefined : (cursor.key as [string, string])[1];
      if (cursor === null || key === undefined || !key.startsWith(prefix)) {
        resolve(records);
        return;
      }
      records.push({ key, value: cursor.value as Uint8Array });
      cursor.continue();
    };
  });
}

export async function openIndexedDbStore(options: IndexedDbStoreOptions): Promise<ClientStore> {
  const factory = options.factory ?? globalThis.indexedDB;
  const keyRange = options.keyRange ?? globalThis.IDBKeyRange;
  const db = await openDatabase(factory, options.name);

  const write = async (ops: readonly StoreOp[]): Promise<void> => {
    const transaction = db.transaction(RECORDS, "readwrite");
    const done = committed(transaction);
    const records = transaction.objectStore(RECORDS);
    try {
      for (const op of ops) {
        checkNamespace(op.ns);
        if (op.op === "put") records.put(op.value, [op.ns, op.key]);
        else records.delete([op.ns, op.key]);
      }
    } catch (error) {
      // Aborting undoes the ops already issued in this transaction.
      transaction.abort();
      await done.catch(() => undefined);
      throw error;
    }
    await done;
  };

  return {
    get: async (ns, key) => {
      checkNamespace(ns);
      const records = db.transaction(RECORDS, "readonly").objectStore(RECORDS);
      return (await settled(records.get([ns, key]))) as Uint8Array | undefined;
    },
    put: (ns, key, value) => write([{ op: "put", ns, key, value }]),
    delete: (ns, key) => write([{ op: "delete", ns, key }]),
    list: async (ns, prefix = "") => {
      checkNamespace(ns);
      const records = db.transaction(RECORDS, "readonly").objectStore(RECORDS);
      // Arrays sort after strings in IndexedDB, so [ns, []] bounds every string key of the namespace.
      const range = keyRange.bound([ns, prefix], [ns, []]);
      return collect(records.openCursor(range), prefix);
    },
    transaction: write,
    close: async () => {
      db.close();
    },
  };
}
