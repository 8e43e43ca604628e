// The remote invite route (section 7, D15): reads and checks the invite's shape against its path,
// then hands it to the rooms domain (rooms/inboundInvite.ts), which decides whether to take it.
import { badJson, unsupportedRoomVersion } from "../../errors.js";
import { isJsonObject, pathParam, type JsonObject } from "../../json.js";
import type { RemoteInvite } from "../../rooms/outboundInvite.js";
import type { Rooms } from "../../rooms/rooms.js";
import type { FederationRouter } from "../../federationTypes.js";
import { INVITE_PATH } from "./peers.js";

/** The invite, if it has every field with the right type and matches its path. */
function readInvite(body: JsonObject, roomId: string, userId: string): RemoteInvite {
  const { room_id, room_version, inviter, invitee, origin, origin_server_ts, current_commit, create_event } =
    body;
  if (
    room_id !== roomId ||
    invitee !== userId ||
    typeof inviter !== "string" ||
    typeof current_commit !== "string" ||
    !isJsonObject(create_event)
  ) {
    throw badJson("The invite does not match its path or lacks fields");
  }
  // D15 (the domain checks the version is one we support; a non-string one never is).
  if (typeof room_version !== "string") throw unsupportedRoomVersion(String(room_version));
  return {
    room_id,
    room_version,
    inviter,
    invitee,
    origin: typeof origin === "string" ? origin : "",
    origin_server_ts: typeof origin_server_ts === "number" ? origin_server_ts : 0,
    current_commit,
    create_event,
  };
}

export function remoteInviteRoutes(rooms: Rooms) {
  return (router: FederationRouter): void => {
    router("PUT", `${INVITE_PATH}/:roomId/:userId`, async (request, origin) => {
      const body = request.body;
      if (!isJsonObject(body)) throw badJson("The invite must be a JSON object");
      const invite = readInvite(
        body,
        pathParam(request.params, "roomId"),
        pathParam(request.params, "userId"),
      );
      await rooms.acceptInvite(origin, invite, body);
      return {};
    });
  };
}
