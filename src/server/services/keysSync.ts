// The /sync fields of end-to-end encryption: to-device messages, device list changes and the
// device's key counts (client-server spec, "End-to-end encryption" and "Send-to-Device").
//
// To-device delivery without a separate stream token: a response holds at most 100 messages.
// When more remain, it records how far it delivered under its next_batch (`upto`) and takes one
// stream position, so the committed position moves past `upto`: every later response has
// another next_batch, and a sync with since = upto resumes right after the last message given.
import type { ServerContext } from "../context.js";
import { changedUsers } from "../keys/deviceLists.js";
import { oneTimeKeyCounts, unusedFallbackKeyTypes } from "../keys/keyStore.js";
import { deleteDelivered, deliveredThrough, hasDelivered, readInbox, recordCursor } from "./toDevice.js";

export const TO_DEVICE_LIMIT = 100;

export interface SyncInput {
  readonly userId: string;
  readonly deviceId: string;
  /** 0 for an initial sync. */
  readonly since: number;
  readonly upto: number;
}

export async function keysSyncPart(ctx: ServerContext, input: SyncInput): Promise<Record<string, unknown>> {
  const { userId, deviceId, since, upto } = input;
  const device = { userId, deviceId };
  const after = await deliveredThrough(ctx.db, device, since);
  const messages = await readInbox(ctx.db, device, after, upto, TO_DEVICE_LIMIT + 1);
  if (messages.length > TO_DEVICE_LIMIT) {
    messages.length = TO_DEVICE_LIMIT;
    const through = (messages[TO_DEVICE_LIMIT - 1] as { position: number }).position;
    await ctx.db.write(async (tx) => {
      await recordCursor(tx, device, upto, through);
      tx.nextStreamPosition();
    });
  }
  return {
    to_device: { events: messages.map(({ sender, type, content }) => ({ sender, type, content })) },
    // An initial sync lists no changes: the client fetches every device list it needs anyway.
    device_lists: { changed: since === 0 ? [] : await changedUsers(ctx.db, userId, since, upto), left: [] },
    device_one_time_keys_count: await oneTimeKeyCounts(ctx.db, userId, deviceId),
    device_unused_fallback_key_types: await unusedFallbackKeyTypes(ctx.db, userId, deviceId),
  };
}

/**
 * A sync with `since` proves the device holds every to-device message of the response that
 * ended at `since`: delete them. Call before keysSyncPart.
 */
export async function acknowledgeToDevice(
  ctx: ServerContext,
  userId: string,
  deviceId: string,
  since: number,
): Promise<void> {
  const device = { userId, deviceId };
  const through = await deliveredThrough(ctx.db, device, since);
  if (!(await hasDelivered(ctx.db, device, through, since))) return;
  await ctx.db.write((tx) => deleteDelivered(tx, device, through, since));
}
