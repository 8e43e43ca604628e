// The client store held in memory, for tests and for clients that keep nothing between runs.
import { checkNamespace, compareKeys, type ClientStore, type StoreNamespace } from "./clientStore.js";

/** Pass the same records to a second open to see what the first store wrote. */
export type MemoryRecords = Map<StoreNamespace, Map<string, Uint8Array>>;

export async function openMemoryStore(records: MemoryRecords = new Map()): Promise<ClientStore> {
  const store: ClientStore = {
    get: async (ns, key) => {
      checkNamespace(ns);
      // Copies, like the other backends, so callers never share bytes with the store.
      return records.get(ns)?.get(key)?.slice();
    },
    put: (ns, key, value) => store.transaction([{ op: "put", ns, key, value }]),
    delete: (ns, key) => store.transaction([{ op: "delete", ns, key }]),
    list: async (ns, prefix = "") => {
      checkNamespace(ns);
      const namespace = records.get(ns) ?? new Map<string, Uint8Array>();
      return [...namespace]
        .filter(([key]) => key.startsWith(prefix))
        .map(([key, value]) => ({ key, value: value.slice() }))
        .sort(compareKeys);
    },
    transaction: async (ops) => {
      // Changes go to copies of the touched namespaces, swapped in only once every op succeeded.
      const staged: MemoryRecords = new Map();
      for (const op of ops) {
        checkNamespace(op.ns);
        const namespace = staged.get(op.ns) ?? new Map(records.get(op.ns));
        staged.set(op.ns, namespace);
        if (op.op === "put") namespace.set(op.key, op.value.slice());
        else namespace.delete(op.key);
      }
      for (const [ns, namespace] of staged) records.set(ns, namespace);
    },
    close: async () => undefined,
  };
  return store;
}
