// Tables of rooms, their events and local users' network membership (section 7).
import type { Migrations } from "../storage/database.js";

export const roomMigrations: Migrations = {
  component: "rooms",
  versions: [
    [
      `CREATE TABLE rooms (
        room_id TEXT PRIMARY KEY,
        room_version TEXT NOT NULL,
        create_event_id TEXT NOT NULL,
        current_commit_id TEXT,
        created_ts BIGINT NOT NULL
      )`,
      `CREATE TABLE events (
        event_id TEXT PRIMARY KEY,
        room_id TEXT NOT NULL,
        position BIGINT NOT NULL UNIQUE,
        type TEXT NOT NULL,
        state_key TEXT,
        pdu TEXT NOT NULL
      )`,
      "CREATE INDEX events_room_position ON events (room_id, position)",
      // The room's forward extremities: the next event's prev_events.
      "CREATE TABLE room_extremities (room_id TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (room_id, event_id))",
      // Network membership of local users only; never sent to other servers (section 7).
      // timeline_from: the stream position from which the user sees the room's timeline (D23).
      `CREATE TABLE room_memberships (
        room_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        membership TEXT NOT NULL,
        inviter TEXT,
        position BIGINT NOT NULL,
        timeline_from BIGINT NOT NULL,
        PRIMARY KEY (room_id, user_id)
      )`,
      "CREATE INDEX room_memberships_user ON room_memberships (user_id, position)",
      `CREATE TABLE event_txns (
        user_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        txn_id TEXT NOT NULL,
        event_id TEXT NOT NULL,
        PRIMARY KEY (user_id, device_id, txn_id)
      )`,
    ],
    [
      // Section 6: pending commits a power server of the room may apply, first received first.
      `CREATE TABLE pending_commits (
        room_id TEXT NOT NULL,
        event_id TEXT NOT NULL PRIMARY KEY,
        epoch BIGINT NOT NULL,
        position BIGINT NOT NULL
      )`,
      "CREATE INDEX pending_commits_room ON pending_commits (room_id, epoch, position)",
    ],
    [
      // Transaction IDs name the device behind an event: kept only while a retry may come
      // (retention.txn_max_age_ms, services/retention.ts). Older rows get a time at the first run.
      "ALTER TABLE event_txns ADD COLUMN created_ts BIGINT NOT NULL DEFAULT 0",
      "CREATE INDEX event_txns_age ON event_txns (created_ts)",
      // The inviter is shown only while the invite is pending (sync's invite_state).
      "UPDATE room_memberships SET inviter = NULL WHERE membership <> 'invite'",
    ],
  ],
};
