// Stored sync filters (POST /user/{userId}/filter). A filter is checked against the shape the
// spec gives it (types of the known fields; unknown fields are kept), stored as the client sent
// it, and numbered per user; uploading the same filter again returns its existing ID.
import type { ServerContext } from "../context.js";
import { badJson } from "../errors.js";
import { isJsonObject, type JsonObject } from "../json.js";

type FieldCheck = (value: unknown, path: string) => void;

const stringList: FieldCheck = (value, path) => {
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw badJson(`${path} must be a list of strings`);
  }
};
const boolean: FieldCheck = (value, path) => {
  if (typeof value !== "boolean") throw badJson(`${path} must be a boolean`);
};
const limit: FieldCheck = (value, path) => {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
    throw badJson(`${path} must be a non-negative integer`);
  }
};
const eventFormat: FieldCheck = (value, path) => {
  if (value !== "client" && value !== "federation") throw badJson(`${path} must be "client" or "federation"`);
};

function objectOf(fields: Record<string, FieldCheck>): FieldCheck {
  return (value, path) => {
    if (!isJsonObject(value)) throw badJson(`${path} must be an object`);
    for (const [name, check] of Object.entries(fields)) {
      if (value[name] !== undefined) check(value[name], `${path}.${name}`);
    }
  };
}

const EVENT_FILTER = {
  limit,
  types: stringList,
  not_types: stringList,
  senders: stringList,
  not_senders: stringList,
};
const eventFilter = objectOf(EVENT_FILTER);
const roomEventFilter = objectOf({
  ...EVENT_FILTER,
  rooms: stringList,
  not_rooms: stringList,
  contains_url: boolean,
  lazy_load_members: boolean,
  include_redundant_members: boolean,
  unread_thread_notifications: boolean,
});
const syncFilter = objectOf({
  event_fields: stringList,
  event_format: eventFormat,
  presence: eventFilter,
  account_data: eventFilter,
  room: objectOf({
    rooms: stringList,
    not_rooms: stringList,
    include_leave: boolean,
    ephemeral: roomEventFilter,
    state: roomEventFilter,
    timeline: roomEventFilter,
    account_data: roomEventFilter,
  }),
});

/** Checks a filter definition (uploaded or inline); M_BAD_JSON names the first wrong field. */
export function parseFilter(value: unknown): JsonObject {
  syncFilter(value, "filter");
  return value as JsonObject;
}

/** Stores a filter for the user; returns its ID (decimal digits, never starting with `{`). */
export async function storeFilter(ctx: ServerContext, userId: string, filter: JsonObject): Promise<string> {
  const definition = JSON.stringify(filter);
  const id = await ctx.db.write(async (tx) => {
    const existing = await tx.get<{ filter_id: number }>(
      "SELECT filter_id FROM filters WHERE user_id = ? AND definition = ?",
      [userId, definition],
    );
    if (existing) return existing.filter_id;
    const last = await tx.get<{ last: number | null }>(
      "SELECT MAX(filter_id) AS last FROM filters WHERE user_id = ?",
      [userId],
    );
    const next = Number(last?.last ?? -1) + 1;
    await tx.run("INSERT INTO filters (user_id, filter_id, definition) VALUES (?, ?, ?)", [
      userId,
      next,
      definition,
    ]);
    return next;
  });
  return String(id);
}

/** A stored filter of the user, or undefined (also for IDs that cannot be ours). */
export async function getFilter(
  ctx: ServerContext,
  userId: string,
  filterId: string,
): Promise<Record<string, unknown> | undefined> {
  if (!/^(0|[1-9][0-9]{0,14})$/.test(filterId)) return undefined;
  const row = await ctx.db.get<{ definition: string }>(
    "SELECT definition FROM filters WHERE user_id = ? AND filter_id = ?",
    [userId, Number(filterId)],
  );
  return row && (JSON.parse(row.definition) as Record<string, unknown>);
}
