// Tables of the outbound queue: items per destination in order (our PDUs by event ID, EDUs as
// JSON), per destination the transaction in flight and the counter its IDs come from, and the
// retry state of destinations that failed.
import type { Migrations } from "../../storage/database.js";

export const outboundMigrations: Migrations = {
  component: "federation_outbound",
  versions: [
    [
      // txn_id: set on the items of the transaction in flight, which are sent again as they are
      // (same ID, so the peer answers a repeat from its store) until a 200 deletes them.
      `CREATE TABLE federation_outbound_items (
        destination TEXT NOT NULL,
        seq BIGINT NOT NULL,
        event_id TEXT,
        edu TEXT,
        txn_id TEXT,
        PRIMARY KEY (destination, seq)
      )`,
      // Transaction IDs are `<txn_prefix>.<n>`: the prefix is the time the row was made, so IDs
      // stay unique at the peer even if this database is wiped and the counter starts again.
      `CREATE TABLE federation_outbound_destinations (
        destination TEXT PRIMARY KEY,
        txn_prefix TEXT NOT NULL,
        next_txn BIGINT NOT NULL,
        txn_id TEXT,
        rejections INTEGER NOT NULL
      )`,
    ],
    [
      // The retry state of a destination that failed (issue 16): kept across a restart, so a
      // server in a crash loop does not send everything at once to a peer that is down.
      // probe_at: when to probe next, NULL when probing would tell nothing (the peer answered).
      `CREATE TABLE federation_outbound_backoff (
        destination TEXT PRIMARY KEY,
        failures INTEGER NOT NULL,
        retry_at BIGINT NOT NULL,
        probe_at BIGINT
      )`,
    ],
  ],
};
