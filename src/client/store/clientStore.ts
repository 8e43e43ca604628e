// The client SDK's storage: one small async interface over namespaced byte records, so that the
// SDK runs on SQLite in Node and on IndexedDB in browsers without knowing which.

export const STORE_NAMESPACES = [
  "account",
  "devices",
  "groups",
  "epochSecrets",
  "keyPackages",
  "sync",
  "outbox",
  "rooms",
  "timeline",
] as const;

export type StoreNamespace = (typeof STORE_NAMESPACES)[number];

export interface StoreRecord {
  key: string;
  value: Uint8Array;
}

export type StoreOp =
  | { op: "put"; ns: StoreNamespace; key: string; value: Uint8Array }
  | { op: "delete"; ns: StoreNamespace; key: string };

export interface ClientStore {
  get(ns: StoreNamespace, key: string): Promise<Uint8Array | undefined>;
  put(ns: StoreNamespace, key: string, value: Uint8Array): Promise<void>;
  /**
   * Once this resolves the record's bytes are gone from storage, not merely unlinked: MLS forward
   * secrecy depends on deleted epoch secrets being unrecoverable.
   */
  delete(ns: StoreNamespace, key: string): Promise<void>;
  /** Records whose key starts with prefix, ordered by key as JavaScript compares strings. */
  list(ns: StoreNamespace, prefix?: string): Promise<StoreRecord[]>;
  /** Applies every op in order, or none of them if any fails. */
  transaction(ops: readonly StoreOp[]): Promise<void>;
  close(): Promise<void>;
}

/** Namespaces are typed, but callers from plain JavaScript or corrupt data can still pass others. */
export function checkNamespace(ns: string): asserts ns is StoreNamespace {
  if (!(STORE_NAMESPACES as readonly string[]).includes(ns)) {
    throw new Error(`unknown store namespace: ${ns}`);
  }
}

/** UTF-16 code unit order, the order of JavaScript's < on strings and of IndexedDB keys. */
export function compareKeys(a: StoreRecord, b: StoreRecord): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}
