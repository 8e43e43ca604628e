// Tables of the federation transport: our own signing keys (current and retired), other
// servers' keys with their validity, and the last inbound transaction of each origin.
import type { Migrations } from "../../storage/database.js";

export const transportMigrations: Migrations = {
  component: "federation_transport",
  versions: [
    [
      // expired_ts is set when the signing key file changed and this key stopped being used.
      `CREATE TABLE federation_own_keys (
        key_id TEXT PRIMARY KEY,
        public_key TEXT NOT NULL,
        expired_ts BIGINT
      )`,
      // valid_until_ts: the response's valid_until_ts (at most 7 days after fetching) for
      // verify_keys, the expired_ts for old_verify_keys.
      `CREATE TABLE federation_server_keys (
        server TEXT NOT NULL,
        key_id TEXT NOT NULL,
        public_key TEXT NOT NULL,
        valid_until_ts BIGINT NOT NULL,
        fetched_ts BIGINT NOT NULL,
        PRIMARY KEY (server, key_id)
      )`,
      `CREATE TABLE federation_inbound_txns (
        origin TEXT PRIMARY KEY,
        txn_id TEXT NOT NULL,
        response TEXT NOT NULL,
        received_ts BIGINT NOT NULL
      )`,
    ],
  ],
};
