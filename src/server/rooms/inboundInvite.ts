// Remote invites (section 7, D15): the inviting server signs an invite naming inviter, invitee,
// room and room version, carries the create event and the current commit's ID, and sends it to
// the invitee's server. It is held outside the room DAG. The invitee's server accepts it only for
// a room version it supports and from a server that takes part in the room, after learning the
// room (create event, commit chain) from that server. The federation edge checks the shape.
import { isMlsRoomVersion } from "../../protocol/names.js";
import { verifyJsonSignature } from "../../protocol/signedJson.js";
import { userIdServerName } from "../../protocol/identifiers.js";
import { badJson, forbidden, MatrixError, notFound, unsupportedRoomVersion } from "../errors.js";
import { isJsonObject, type JsonObject } from "../json.js";
import type { RoomInbound } from "./inbound.js";
import type { RemoteInvite } from "./outboundInvite.js";
import type { RoomDeps, RoomsContext } from "./ports.js";
import { loadRoom } from "./roomState.js";
import { getEvent, getMembership, setMembership } from "./roomStore.js";

/** Takes a remote invite `origin` sent; `signed` is the invite as received, with its signatures. */
export async function acceptRemoteInvite(
  ctx: RoomsContext,
  deps: RoomDeps,
  inbound: RoomInbound,
  origin: string,
  invite: RemoteInvite,
  signed: JsonObject,
): Promise<void> {
  // D15: a room version we support, from the server that signs it and hosts the inviter.
  if (!isMlsRoomVersion(invite.room_version)) throw unsupportedRoomVersion(String(invite.room_version));
  if (invite.origin !== origin || userIdServerName(invite.inviter) !== origin) {
    throw forbidden("The invite's origin and inviter must be the requesting server's");
  }
  if (
    userIdServerName(invite.invitee) !== ctx.config.serverName ||
    !(await deps.userExists(ctx.db, invite.invitee))
  ) {
    throw notFound(`No user ${invite.invitee} here`);
  }
  await verifyInviteSignature(ctx, deps, signed, origin);
  if (invite.create_event.room_id !== invite.room_id) throw badJson("The create event is of another room");
  // Learn the room from the inviting server: its current commit, with the auth chain.
  // The commit that added us may still be on its way: learn the room up to the invite's commit.
  if (!(await getEvent(ctx.db, invite.current_commit))) await learnRoom(deps, inbound, origin, invite);
  const room = await loadRoom(ctx.db, invite.room_id);
  const servers = room?.state.commit?.federation?.federation.servers ?? [];
  if (!room || !servers.includes(origin) || !servers.includes(ctx.config.serverName)) {
    throw forbidden(`D15: ${origin} and ${ctx.config.serverName} must both take part in ${invite.room_id}`);
  }
  await ctx.db.write(async (tx) => {
    const current = await getMembership(tx, invite.room_id, invite.invitee);
    if (current?.membership === "join") return;
    await setMembership(tx, {
      roomId: invite.room_id,
      userId: invite.invitee,
      membership: "invite",
      inviter: invite.inviter,
    });
  });
  ctx.notifier.wake([invite.invitee]);
}

async function verifyInviteSignature(ctx: RoomsContext, deps: RoomDeps, body: JsonObject, origin: string) {
  const signatures =
    isJsonObject(body.signatures) && isJsonObject(body.signatures[origin]) ? body.signatures[origin] : {};
  for (const keyId of Object.keys(signatures)) {
    const key = await deps.peers.verifyKey(origin, keyId, ctx.clock.now());
    if (key && verifyJsonSignature(body, origin, keyId, key, ctx.crypto)) return;
  }
  throw new MatrixError(401, "M_UNAUTHORIZED", "The invite is not signed by the inviting server");
}

async function learnRoom(deps: RoomDeps, inbound: RoomInbound, origin: string, invite: RemoteInvite) {
  const pdu = await deps.peers.fetchEvent(origin, invite.current_commit);
  if (pdu === undefined) throw badJson("The inviting server did not serve the room's current commit");
  const outcome = await inbound.receiveOne(origin, pdu);
  if (outcome.error) throw forbidden(`The room's current commit was refused: ${outcome.error}`);
}
