// Who shares a room with whom across servers. Section 7: a server knows only its own users'
// membership and, of other servers, their names in the `servers` of each room's current commit.
// So a local user "shares a room" with a server when the user is joined to a room whose current
// commit lists that server; a remote user is taken to share a room with every local user who
// shares one with the remote user's server.
import type { Queryable } from "../storage/database.js";
import { loadRoom } from "./roomState.js";
import { joinedMemberships, membershipsOf } from "./roomStore.js";

async function currentServers(q: Queryable, roomId: string): Promise<readonly string[]> {
  const room = await loadRoom(q, roomId);
  return room?.state.commit?.federation?.federation.servers ?? [];
}

/** Other servers in the `servers` of the rooms `userId` (local) is joined to, sorted. */
export async function serversSharingRoomsWith(
  q: Queryable,
  ownServer: string,
  userId: string,
): Promise<string[]> {
  const rows = await membershipsOf(q, userId, "join");
  const servers = new Set<string>();
  for (const row of rows) for (const server of await currentServers(q, row.room_id)) servers.add(server);
  servers.delete(ownServer);
  return [...servers].sort();
}

/** Local users joined to a room whose current `servers` include `server`, sorted. */
export async function localUsersSharingRoomsWith(q: Queryable, server: string): Promise<string[]> {
  const rows = await joinedMemberships(q);
  const users = new Set<string>();
  const sharing = new Map<string, boolean>();
  for (const row of rows) {
    let shared = sharing.get(row.room_id);
    if (shared === undefined) {
      shared = (await currentServers(q, row.room_id)).includes(server);
      sharing.set(row.room_id, shared);
    }
    if (shared) users.add(row.user_id);
  }
  return [...users].sort();
}
