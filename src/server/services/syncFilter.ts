// The basics of Matrix sync filters that this server honours: which rooms, whether left rooms
// appear in an initial sync, the timeline limit and event types.
import { badJson } from "../errors.js";
import { isJsonObject, type JsonObject } from "../json.js";

export interface SyncFilter {
  readonly timelineLimit: number;
  readonly rooms?: ReadonlySet<string>;
  readonly notRooms: ReadonlySet<string>;
  readonly includeLeave: boolean;
  readonly types?: readonly string[];
  readonly notTypes: readonly string[];
}

export const DEFAULT_TIMELINE_LIMIT = 10;
const MAX_TIMELINE_LIMIT = 100;

function stringList(value: unknown, field: string): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string"))
    throw badJson(`${field} must be a list of strings`);
  return value;
}

function object(value: unknown, field: string): JsonObject {
  if (value === undefined) return {};
  if (!isJsonObject(value)) throw badJson(`${field} must be an object`);
  return value;
}

export function parseSyncFilter(definition: unknown): SyncFilter {
  const filter = object(definition, "filter");
  const room = object(filter.room, "filter.room");
  const timeline = object(room.timeline, "filter.room.timeline");
  const limit = timeline.limit ?? DEFAULT_TIMELINE_LIMIT;
  if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 0) {
    throw badJson("filter.room.timeline.limit must be a non-negative integer");
  }
  const rooms = stringList(room.rooms, "filter.room.rooms");
  return {
    timelineLimit: Math.min(limit, MAX_TIMELINE_LIMIT),
    rooms: rooms ? new Set(rooms) : undefined,
    notRooms: new Set(stringList(room.not_rooms, "filter.room.not_rooms") ?? []),
    includeLeave: room.include_leave === true,
    types: stringList(timeline.types, "filter.room.timeline.types"),
    notTypes: stringList(timeline.not_types, "filter.room.timeline.not_types") ?? [],
  };
}

export function roomAllowed(filter: SyncFilter, roomId: string): boolean {
  return (filter.rooms === undefined || filter.rooms.has(roomId)) && !filter.notRooms.has(roomId);
}

function typeMatches(pattern: string, type: string): boolean {
  return pattern.endsWith("*") ? type.startsWith(pattern.slice(0, -1)) : pattern === type;
}

export function typeAllowed(filter: SyncFilter, type: string): boolean {
  if (filter.types !== undefined && !filter.types.some((p) => typeMatches(p, type))) return false;
  return !filter.notTypes.some((p) => typeMatches(p, type));
}
