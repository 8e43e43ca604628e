// Commands about messages: send, and messages (history, optionally following new ones).
import type { ClientEvent } from "../../client/events.js";
import { UsageError } from "../errors.js";
import { formatEvent, formatMessage, messageObject } from "../output.js";
import { withClient } from "../profile.js";
import { resolveRoom } from "../resolve.js";
import type { CommandContext } from "./context.js";

export async function send(context: CommandContext): Promise<void> {
  const text = context.inv.arg("TEXT...");
  await withClient(context.profile, async (client) => {
    const room = resolveRoom(client.rooms(), context.inv.arg("ROOM"));
    const eventId = await client.sendText(room.roomId, text);
    context.out.result(`sent ${eventId}`, { roomId: room.roomId, eventId });
  });
}

function parseLimit(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError("--limit must be a whole number", "messages");
  return Number(value);
}

/** Resolves on Ctrl-C or SIGTERM, which then no longer kill the process at once. */
function interrupted(): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      process.off("SIGINT", done);
      process.off("SIGTERM", done);
      resolve();
    };
    process.on("SIGINT", done);
    process.on("SIGTERM", done);
  });
}

/** True for the events a view of one room shows: its own, and those of no room (sync errors). */
export function concernsRoom(event: ClientEvent, roomId: string): boolean {
  return !("roomId" in event) || event.roomId === undefined || event.roomId === roomId;
}

export async function messages(context: CommandContext): Promise<void> {
  const { inv, out } = context;
  const limit = parseLimit(inv.string("limit"));
  const follow = inv.flag("follow");
  await withClient(context.profile, async (client) => {
    const room = resolveRoom(client.rooms(), inv.arg("ROOM"));
    const history = await client.messages(room.roomId);
    for (const message of limit === undefined
      ? history
      : history.slice(Math.max(0, history.length - limit))) {
      out.result(formatMessage(message), messageObject(message));
    }
    if (!follow) return;
    const stopped = interrupted();
    client.on((event) => {
      if (!concernsRoom(event, room.roomId)) return;
      const line = formatEvent(event);
      if (line !== undefined || out.json) out.result(line ?? "", event);
    });
    client.start();
    await stopped;
  });
}
