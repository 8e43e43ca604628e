// Inbound m.device_list_update and m.signing_key_update EDUs: a user of the origin server changed
// a device or their cross-signing keys. Local users who may share a room with them (joined to a
// room whose current `servers` include the origin; see sharedRooms.ts) see the user in their
// /sync device_lists.changed and fetch the keys again, which this server forwards to the origin
// (it keeps no copy of remote keys, so there is none to drop). The EDU's keys are not used.
import { userIdServerName } from "../../../protocol/identifiers.js";
import type { ServerContext } from "../../context.js";
import { markDeviceListChanged } from "../../keys/deviceLists.js";
import type { Edu } from "../../federationTypes.js";
import { localUsersSharingRoomsWith } from "../../rooms/sharedRooms.js";

export function deviceListEduHandler(ctx: ServerContext) {
  return async (origin: string, edu: Edu): Promise<void> => {
    const userId = edu.content.user_id;
    if (typeof userId !== "string" || userIdServerName(userId) !== origin) {
      ctx.log.warn(
        { origin, edu: edu.edu_type, userId },
        "device list EDU about a user of another server: dropped",
      );
      return;
    }
    // Read outside the write job, which serialises every write of the server.
    const recipients = await localUsersSharingRoomsWith(ctx.db, origin);
    if (recipients.length === 0) return;
    await ctx.db.write(async (tx) => {
      for (const localUser of recipients) await markDeviceListChanged(tx, userId, localUser);
    });
    ctx.notifier.wake(recipients);
  };
}
