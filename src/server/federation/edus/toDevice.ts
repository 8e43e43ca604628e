// Inbound m.direct_to_device EDUs (server-server spec, "Send-to-device messaging"): messages from
// a user of the origin server to devices of this server's users, stored like local to-device
// messages and delivered through /sync. This is how a Welcome from another server arrives
// (sections 7 and 9). The sender must be a user of the origin server; messages for users of any
// other server are dropped (a server cannot relay to-device messages on another's behalf); a
// message_id already received from that origin delivers nothing again.
import { userIdServerName } from "../../../protocol/identifiers.js";
import type { ServerContext } from "../../context.js";
import { isJsonObject } from "../../json.js";
import {
  deliverToLocalDevices,
  firstReceipt,
  InboxFull,
  inboxLimits,
  type ToDeviceMessages,
} from "../../services/toDevice.js";
import type { Edu } from "../../federationTypes.js";

const MAX_NAME_LENGTH = 255;

/** Why an EDU is dropped, for the log. */
class ToDeviceRefusal extends Error {
  override readonly name = "ToDeviceRefusal";
}

interface DirectToDevice {
  readonly sender: string;
  readonly type: string;
  readonly messageId: string;
  /** The messages for this server's users only. */
  readonly messages: ToDeviceMessages;
}

function readEdu(ctx: ServerContext, origin: string, content: Record<string, unknown>): DirectToDevice {
  const { sender, type, message_id: messageId, messages } = content;
  if (typeof sender !== "string" || userIdServerName(sender) !== origin) {
    throw new ToDeviceRefusal(`sender ${String(sender)} is not a user of ${origin}`);
  }
  if (typeof type !== "string" || type.length === 0 || type.length > MAX_NAME_LENGTH) {
    throw new ToDeviceRefusal("type must be a non-empty string of at most 255 characters");
  }
  if (typeof messageId !== "string" || messageId.length === 0 || messageId.length > MAX_NAME_LENGTH) {
    throw new ToDeviceRefusal("message_id must be a non-empty string of at most 255 characters");
  }
  if (!isJsonObject(messages)) throw new ToDeviceRefusal("messages must map user IDs to devices");
  const local: ToDeviceMessages = {};
  for (const [userId, byDevice] of Object.entries(messages)) {
    if (userIdServerName(userId) !== ctx.config.serverName) {
      ctx.log.warn({ origin, userId }, "m.direct_to_device for a user of another server: dropped");
      continue;
    }
    if (!isJsonObject(byDevice) || !Object.values(byDevice).every(isJsonObject)) {
      throw new ToDeviceRefusal(`messages.${userId} must map device IDs to objects`);
    }
    local[userId] = byDevice as Record<string, Record<string, unknown>>;
  }
  return { sender, type, messageId, messages: local };
}

export function toDeviceEduHandler(ctx: ServerContext) {
  return async (origin: string, edu: Edu): Promise<void> => {
    let message: DirectToDevice;
    try {
      message = readEdu(ctx, origin, edu.content);
    } catch (error) {
      if (!(error instanceof ToDeviceRefusal)) throw error;
      ctx.log.warn({ origin, reason: error.message }, "m.direct_to_device refused");
      return;
    }
    if (Object.keys(message.messages).length === 0) return;
    const now = ctx.clock.now();
    const delivery = {
      sender: message.sender,
      type: message.type,
      now,
      limits: inboxLimits(ctx.config.retention),
    };
    let recipients: string[];
    try {
      recipients = await ctx.db.write(async (tx) => {
        if (!(await firstReceipt(tx, origin, message.messageId, now))) return [];
        return deliverToLocalDevices(tx, delivery, message.messages);
      });
    } catch (error) {
      // An EDU has no answer of its own: the inbox bound drops it whole, as it would refuse a local send.
      if (!(error instanceof InboxFull)) throw error;
      ctx.log.warn({ origin, reason: error.message }, "m.direct_to_device dropped");
      return;
    }
    ctx.notifier.wake(recipients);
  };
}
