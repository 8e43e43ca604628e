// What a user may type for a room or a person: a room ID or a room name the profile knows;
// a full user ID or a bare user name on one's own server.
import type { RoomSummary } from "../client/events.js";
import { CliError } from "./errors.js";

const ROOMS_HINT = "run `myelin rooms` to list the rooms this profile knows";

export function resolveRoom(rooms: readonly RoomSummary[], given: string): RoomSummary {
  if (given.startsWith("!")) {
    const room = rooms.find((candidate) => candidate.roomId === given);
    if (room === undefined) throw new CliError("unknown_room", `unknown room ${given}`, ROOMS_HINT);
    return room;
  }
  const named = rooms.filter((room) => room.name === given);
  // A name someone used before and left behind should not shadow the room one is in.
  const current = named.filter((room) => room.membership !== "left");
  const matches = current.length > 0 ? current : named;
  if (matches.length === 1 && matches[0] !== undefined) return matches[0];
  if (matches.length === 0) {
    throw new CliError("unknown_room", `no room named ${JSON.stringify(given)}`, ROOMS_HINT);
  }
  throw new CliError(
    "ambiguous_room",
    `${matches.length} rooms are named ${JSON.stringify(given)}: ${matches.map((room) => room.roomId).join(", ")}`,
    "use the room ID instead",
  );
}

/** `bob` → `@bob:<own server>`; a full `@user:server` is kept. */
export function qualifyUser(given: string, ownUserId: string): string {
  if (given.startsWith("@")) {
    if (!given.includes(":")) {
      throw new CliError(
        "bad_user",
        `${given} is not a user ID`,
        "write @user:server, or just the user name",
      );
    }
    return given;
  }
  return `@${given}:${ownUserId.slice(ownUserId.indexOf(":") + 1)}`;
}
