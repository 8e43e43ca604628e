// Announcing a local user's device list changes to the servers that share a room with them
// (server-server spec, m.device_list_update and m.signing_key_update). The keys domain calls
// these through KeyFederation (keys/keyFederation.ts) inside the write that made the change, so
// each announcement is sent exactly when the change commits; wakeForDeviceListChange wakes the
// outbound queue afterwards.
import type { DeviceListUpdate, PublishedSigningKeys } from "../../keyFederation.js";
import type { WriteTransaction } from "../../storage/database.js";
import type { OutboundQueue } from "../../federationTypes.js";
import { serversSharingRoomsWith } from "../../rooms/sharedRooms.js";

export const DEVICE_LIST_UPDATE = "m.device_list_update";
export const SIGNING_KEY_UPDATE = "m.signing_key_update";

export interface AnnouncerDeps {
  readonly serverName: string;
  readonly outbound: OutboundQueue;
}

/** Queues an m.device_list_update for every server sharing a room with the user. */
export async function announceDeviceChange(
  tx: WriteTransaction,
  deps: AnnouncerDeps,
  update: DeviceListUpdate,
): Promise<void> {
  const destinations = await serversSharingRoomsWith(tx, deps.serverName, update.userId);
  if (destinations.length === 0) return;
  const content = {
    user_id: update.userId,
    device_id: update.deviceId,
    stream_id: update.streamId,
    prev_id: update.prevId === undefined ? [] : [update.prevId],
    ...(update.deleted === true && { deleted: true }),
    ...(update.keys !== undefined && { keys: update.keys }),
  };
  for (const destination of destinations) {
    await deps.outbound.enqueueEdu(tx, destination, { edu_type: DEVICE_LIST_UPDATE, content });
  }
}

/** Queues an m.signing_key_update (the master and self-signing keys as published now). */
export async function announceSigningKeys(
  tx: WriteTransaction,
  deps: AnnouncerDeps,
  userId: string,
  keys: PublishedSigningKeys,
): Promise<void> {
  const destinations = await serversSharingRoomsWith(tx, deps.serverName, userId);
  const content = { user_id: userId, ...keys };
  for (const destination of destinations) {
    await deps.outbound.enqueueEdu(tx, destination, { edu_type: SIGNING_KEY_UPDATE, content });
  }
}
