// Sending a remote invite (section 7, D15): signed by this server, naming inviter, invitee, room
// and room version, carrying the create event and the current commit's ID. The invitee's server
// must already be in the room's `servers` (a commit added it).
import type { AuthEvent } from "../../protocol/auth/authEvent.js";
import { userIdServerName } from "../../protocol/identifiers.js";
import { signJson } from "../../protocol/signedJson.js";
import { forbidden } from "../errors.js";
import type { RoomPeers, RoomsContext } from "./ports.js";

export interface RemoteInvite {
  readonly room_id: string;
  readonly room_version: string;
  readonly inviter: string;
  readonly invitee: string;
  readonly origin: string;
  readonly origin_server_ts: number;
  readonly current_commit: string;
  readonly create_event: Record<string, unknown>;
}

export interface InvitedRoom {
  readonly roomId: string;
  readonly roomVersion: string;
  readonly create: AuthEvent;
  readonly commit: AuthEvent | undefined;
}

/** Sends the invite of a user of another server; that server must be in `servers` already. */
export async function sendRemoteInvite(
  ctx: RoomsContext,
  peers: RoomPeers,
  room: InvitedRoom,
  inviter: string,
  invitee: string,
): Promise<void> {
  const server = userIdServerName(invitee);
  const commit = room.commit;
  if (!server || !commit?.federation?.federation.servers.includes(server)) {
    throw forbidden(
      `${server ?? invitee} is not in the room's servers: a commit must add it before its users can be invited (section 7)`,
    );
  }
  const invite: RemoteInvite = {
    room_id: room.roomId,
    room_version: room.roomVersion,
    inviter,
    invitee,
    origin: ctx.config.serverName,
    origin_server_ts: ctx.clock.now(),
    current_commit: commit.eventId,
    create_event: room.create.pdu as unknown as Record<string, unknown>,
  };
  const signed = signJson(invite, ctx.config.serverName, ctx.signingKey);
  await peers.sendInvite(server, room.roomId, invitee, signed);
}
