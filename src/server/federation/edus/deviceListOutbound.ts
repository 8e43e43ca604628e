// Announcing a local user's device list changes to the servers that share a room with them
// (server-server spec, m.device_list_update and m.signing_key_update). Each announcement is
// queued inside the write that made the change, so it is sent exactly when the change commits;
// wakeForDeviceListChange wakes the outbound queue afterwards.
import type { ServerContext } from "../../context.js";
import type { JsonObject } from "../../json.js";
import { advanceDeviceListStream } from "../../services/deviceLists.js";
import type { WriteTransaction } from "../../storage/database.js";
import { serversSharingRoomsWith } from "../../rooms/sharedRooms.js";

export const DEVICE_LIST_UPDATE = "m.device_list_update";
export const SIGNING_KEY_UPDATE = "m.signing_key_update";

export interface DeviceChange {
  readonly userId: string;
  readonly deviceId: string;
  /** The change's stream position (markDeviceListChanged): the EDU's stream_id. */
  readonly streamId: number;
  /** The device's keys as other servers see them now; absent when deleted or without keys. */
  readonly keys?: JsonObject;
  readonly deleted?: boolean;
}

/**
 * Queues an m.device_list_update for every server sharing a room with the user. Its prev_id is
 * the user's previous stream_id, also when that change reached no server: a server that did
 * not see it then knows to fetch the whole list (GET /user/devices) rather than trust a gap.
 */
export async function announceDeviceChange(
  tx: WriteTransaction,
  ctx: ServerContext,
  change: DeviceChange,
): Promise<void> {
  const previous = await advanceDeviceListStream(tx, change.userId, change.streamId);
  const destinations = await serversSharingRoomsWith(tx, ctx.config.serverName, change.userId);
  if (destinations.length === 0) return;
  const content = {
    user_id: change.userId,
    device_id: change.deviceId,
    stream_id: change.streamId,
    prev_id: previous === undefined ? [] : [previous],
    ...(change.deleted === true && { deleted: true }),
    ...(change.keys !== undefined && { keys: change.keys }),
  };
  for (const destination of destinations) {
    await ctx.federation.outbound.enqueueEdu(tx, destination, { edu_type: DEVICE_LIST_UPDATE, content });
  }
}

export interface PublishedSigningKeys {
  readonly master_key?: JsonObject;
  readonly self_signing_key?: JsonObject;
}

/** Queues an m.signing_key_update (the master and self-signing keys as published now). */
export async function announceSigningKeys(
  tx: WriteTransaction,
  ctx: ServerContext,
  userId: string,
  keys: PublishedSigningKeys,
): Promise<void> {
  const destinations = await serversSharingRoomsWith(tx, ctx.config.serverName, userId);
  const content = { user_id: userId, ...keys };
  for (const destination of destinations) {
    await ctx.federation.outbound.enqueueEdu(tx, destination, { edu_type: SIGNING_KEY_UPDATE, content });
  }
}
