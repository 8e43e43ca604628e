// PUT /sendToDevice/{eventType}/{txnId} (client-server spec v1.11, "Send-to-Device messaging").
// Welcomes travel this way (section 9). Messages to users of other servers go out as
// m.direct_to_device EDUs (services/toDevice.ts).
import type { FastifyInstance } from "fastify";
import type { ServerComponent } from "../component.js";
import type { ServerContext } from "../context.js";
import { badJson, invalidParam, MatrixError, missingParam } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { bodyObject, isJsonObject } from "../json.js";
import {
  InboxFull,
  inboxLimits,
  storeToDevice,
  toDeviceMigrations,
  type ToDeviceMessages,
} from "../services/toDevice.js";

const USER_ID = /^@[^:]+:.+$/;
const MAX_NAME_LENGTH = 255;

function checkMessages(value: unknown): ToDeviceMessages {
  if (value === undefined || value === null) throw missingParam("messages");
  if (!isJsonObject(value)) throw badJson("messages must map user IDs to devices");
  for (const [userId, byDevice] of Object.entries(value)) {
    if (!USER_ID.test(userId)) throw invalidParam(`${userId} is not a user ID`);
    if (!isJsonObject(byDevice)) throw badJson(`messages.${userId} must map device IDs to contents`);
    for (const [deviceId, content] of Object.entries(byDevice)) {
      if (!isJsonObject(content)) throw badJson(`messages.${userId}.${deviceId} must be an object`);
    }
  }
  return value as ToDeviceMessages;
}

function routes(api: FastifyInstance, ctx: ServerContext): void {
  api.put("/sendToDevice/:eventType/:txnId", async (request) => {
    const sender = await requireSession(ctx, request);
    const { eventType, txnId } = request.params as { eventType: string; txnId: string };
    if (eventType.length > MAX_NAME_LENGTH) throw invalidParam("eventType is too long");
    if (txnId.length > MAX_NAME_LENGTH) throw invalidParam("txnId is too long");
    const messages = checkMessages(bodyObject(request.body).messages);
    const input = {
      sender,
      txnId,
      type: eventType,
      messages,
      serverName: ctx.config.serverName,
      now: ctx.clock.now(),
      outbound: ctx.federation.outbound,
      limits: inboxLimits(ctx.config.retention),
    };
    const stored = await ctx.db
      .write((tx) => storeToDevice(tx, input))
      .catch((error: unknown) => {
        // Nothing of the send is stored: the sender may try again once the device has synced.
        if (error instanceof InboxFull) throw new MatrixError(429, "M_LIMIT_EXCEEDED", error.message);
        throw error;
      });
    if (stored === undefined) return {};
    ctx.notifier.wake(stored.recipients);
    if (stored.queued) ctx.federation.outbound.wake();
    return {};
  });
}

export const toDeviceComponent: ServerComponent = {
  name: "to_device",
  migrations: toDeviceMigrations,
  clientRoutes: routes,
};
