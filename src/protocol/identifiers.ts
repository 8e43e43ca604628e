// Room and event identifiers of this room version.
import { isValidServerName } from "./serverName.js";

const EVENT_ID = /^\$[A-Za-z0-9_-]{43}$/;
const MAX_ID_BYTES = 255;

/** Event IDs are `$` + unpadded URL-safe base64 of a SHA-256 reference hash (section 3). */
export function isEventId(value: unknown): value is string {
  return typeof value === "string" && EVENT_ID.test(value);
}

/** The server part of a `!opaque:server` room ID (section 10 keeps that form), or undefined. */
export function roomIdServerName(roomId: string): string | undefined {
  if (!roomId.startsWith("!") || roomId.length > MAX_ID_BYTES) return undefined;
  const colon = roomId.indexOf(":");
  if (colon <= 1) return undefined;
  const server = roomId.slice(colon + 1);
  return isValidServerName(server) ? server : undefined;
}

export function isRoomId(value: unknown): value is string {
  return typeof value === "string" && roomIdServerName(value) !== undefined;
}

/** The server part of an `@localpart:server` user ID, or undefined. */
export function userIdServerName(userId: string): string | undefined {
  if (!userId.startsWith("@") || userId.length > MAX_ID_BYTES) return undefined;
  const colon = userId.indexOf(":");
  if (colon <= 1) return undefined;
  const server = userId.slice(colon + 1);
  return isValidServerName(server) ? server : undefined;
}
