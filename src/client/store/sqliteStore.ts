// The client store in Node: one SQLite file, one connection (a client has a single writer).
import BetterSqlite3 from "better-sqlite3";
import {
  checkNamespace,
  compareKeys,
  type ClientStore,
  type StoreOp,
  type StoreRecord,
} from "./clientStore.js";

const SCHEMA_VERSION = 1;

/** Namespaces whose overwritten values are secrets MLS wants gone (forward secrecy). */
const SECRET_NAMESPACES: ReadonlySet<string> = new Set(["groups", "keyPackages", "epochSecrets"]);

function toBlob(value: Uint8Array): Buffer {
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function migrate(db: BetterSqlite3.Database): void {
  db.exec("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)");
  const row = db.prepare("SELECT version FROM schema_version").get() as { version: number } | undefined;
  if (row === undefined) {
    db.transaction(() => {
      db.exec(
        "CREATE TABLE records (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, " +
          "PRIMARY KEY (ns, key)) WITHOUT ROWID",
      );
      db.prepare("INSERT INTO schema_version (version) VALUES (?)").run(SCHEMA_VERSION);
    })();
  } else if (row.version > SCHEMA_VERSION) {
    throw new Error(`client store schema ${row.version} is newer than this client (${SCHEMA_VERSION})`);
  }
}

export async function openSqliteStore(path: string): Promise<ClientStore> {
  const db = new BetterSqlite3(path);
  db.pragma("journal_mode = WAL");
  // FULL: a put has reached the disk when it resolves; a client writes little, so the cost is small.
  db.pragma("synchronous = FULL");
  // Freed pages and cells are zeroed, so deleted secrets are overwritten rather than left behind.
  db.pragma("secure_delete = ON");
  migrate(db);

  const getRow = db.prepare("SELECT value FROM records WHERE ns = ? AND key = ?");
  const putRow = db.prepare("INSERT OR REPLACE INTO records (ns, key, value) VALUES (?, ?, ?)");
  const deleteRow = db.prepare("DELETE FROM records WHERE ns = ? AND key = ?");
  const scanFrom = db.prepare("SELECT key, value FROM records WHERE ns = ? AND key >= ? ORDER BY key");

  const apply = (op: StoreOp): void => {
    checkNamespace(op.ns);
    if (op.op === "put") putRow.run(op.ns, op.key, toBlob(op.value));
    else deleteRow.run(op.ns, op.key);
  };
  const applyAll = db.transaction((ops: readonly StoreOp[]) => ops.forEach(apply));
  // The WAL still holds page images from before a delete or an overwrite; checkpointing them into
  // the (zeroed) database file and truncating the WAL is what makes a deleted secret
  // unrecoverable. Group states and key packages are overwritten as MLS moves on (ratchets,
  // pruned epochs), so their old bytes must go the same way.
  const forgetDeleted = (ops: readonly StoreOp[]): void => {
    if (ops.some((op) => op.op === "delete" || SECRET_NAMESPACES.has(op.ns)))
      db.pragma("wal_checkpoint(TRUNCATE)");
  };

  return {
    get: async (ns, key) => {
      checkNamespace(ns);
      const row = getRow.get(ns, key) as { value: Buffer } | undefined;
      return row === undefined ? undefined : new Uint8Array(row.value);
    },
    put: async (ns, key, value) => {
      const op: StoreOp = { op: "put", ns, key, value };
      apply(op);
      forgetDeleted([op]);
    },
    delete: async (ns, key) => {
      const op: StoreOp = { op: "delete", ns, key };
      apply(op);
      forgetDeleted([op]);
    },
    list: async (ns, prefix = "") => {
      checkNamespace(ns);
      // Keys sharing a prefix are contiguous in SQLite's byte order, so the scan stops at the first miss.
      const records: StoreRecord[] = [];
      for (const row of scanFrom.iterate(ns, prefix) as Iterable<{ key: string; value: Buffer }>) {
        if (!row.key.startsWith(prefix)) break;
        records.push({ key: row.key, value: new Uint8Array(row.value) });
      }
      // SQLite orders UTF-8 bytes, IndexedDB UTF-16 units; they differ past U+FFFF, so sort the JS way.
      return records.sort(compareKeys);
    },
    transaction: async (ops) => {
      applyAll(ops);
      forgetDeleted(ops);
    },
    close: async () => {
      db.close();
    },
  };
}
