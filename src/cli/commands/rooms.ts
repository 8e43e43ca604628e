// Commands about rooms and their members: rooms, create-room, invite, join, members, set-name,
// set-topic, remove, leave.
import type { MyelinClient } from "../../client/client.js";
import type { RoomSummary } from "../../client/events.js";
import { UsageError } from "../errors.js";
import { formatMember, formatRoom } from "../output.js";
import { withClient } from "../profile.js";
import { qualifyUser, resolveRoom } from "../resolve.js";
import type { CommandContext } from "./context.js";

const VERIFICATION_LEVELS = ["m.direct", "m.cross", "m.tofu", "m.none"] as const;
type VerificationLevel = (typeof VERIFICATION_LEVELS)[number];

/** Runs `use` on the room named by the ROOM argument. */
function inRoom(
  context: CommandContext,
  use: (client: MyelinClient, room: RoomSummary) => Promise<void>,
): Promise<void> {
  return withClient(context.profile, (client) =>
    use(client, resolveRoom(client.rooms(), context.inv.arg("ROOM"))),
  );
}

function label(room: RoomSummary): string {
  return room.name === undefined ? room.roomId : `${room.roomId} ${JSON.stringify(room.name)}`;
}

export async function rooms(context: CommandContext): Promise<void> {
  await withClient(context.profile, async (client) => {
    const all = client.rooms();
    for (const room of all) context.out.result(formatRoom(room), room);
    if (all.length === 0) context.out.note("no rooms yet: `myelin create-room --name NAME`");
  });
}

function parseVerification(value: string | undefined): VerificationLevel | undefined {
  if (value === undefined) return undefined;
  const level = VERIFICATION_LEVELS.find((candidate) => candidate === value);
  if (level === undefined) {
    throw new UsageError(`--verification must be one of ${VERIFICATION_LEVELS.join(", ")}`, "create-room");
  }
  return level;
}

function parseWindow(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value)) throw new UsageError("--window must be a number of seconds", "create-room");
  return Number(value);
}

export async function createRoom(context: CommandContext): Promise<void> {
  const { inv, out } = context;
  const name = inv.string("name");
  const topic = inv.string("topic");
  const requiredVerification = parseVerification(inv.string("verification"));
  const window = parseWindow(inv.string("window"));
  await withClient(context.profile, async (client) => {
    const roomId = await client.createRoom({
      ...(name !== undefined ? { name } : {}),
      ...(topic !== undefined ? { topic } : {}),
      ...(requiredVerification !== undefined ? { requiredVerification } : {}),
      ...(window !== undefined ? { window } : {}),
    });
    out.result(`created ${name === undefined ? roomId : `${roomId} ${JSON.stringify(name)}`}`, {
      roomId,
      name,
      topic,
    });
  });
}

export async function invite(context: CommandContext): Promise<void> {
  await inRoom(context, async (client, room) => {
    const userId = qualifyUser(context.inv.arg("USER"), client.userId);
    // The SDK refuses (NO_DEVICES) when no device at all can be added; some may still be left out.
    const result = await client.invite(room.roomId, userId);
    const skipped = result.skipped.map((device) => `  left out ${device.deviceId}: ${device.reason}`);
    const added = result.added.map((device) => device.deviceId).join(", ");
    context.out.result([`invited ${userId} to ${label(room)}: added ${added}`, ...skipped], {
      roomId: room.roomId,
      userId,
      ...result,
    });
  });
}

export async function join(context: CommandContext): Promise<void> {
  await inRoom(context, async (client, room) => {
    await client.join(room.roomId);
    const joined = client.rooms().find((candidate) => candidate.roomId === room.roomId) ?? room;
    context.out.result(`joined ${label(joined)}`, { roomId: room.roomId, name: joined.name, joined: true });
  });
}

export async function members(context: CommandContext): Promise<void> {
  await inRoom(context, async (client, room) => {
    for (const member of await client.members(room.roomId)) context.out.result(formatMember(member), member);
  });
}

export async function setName(context: CommandContext): Promise<void> {
  const name = context.inv.arg("NAME...");
  await inRoom(context, async (client, room) => {
    await client.setName(room.roomId, name);
    context.out.result(`${room.roomId} is now named ${JSON.stringify(name)}`, { roomId: room.roomId, name });
  });
}

export async function setTopic(context: CommandContext): Promise<void> {
  const topic = context.inv.arg("TOPIC...");
  await inRoom(context, async (client, room) => {
    await client.setTopic(room.roomId, topic);
    context.out.result(`topic of ${label(room)} set`, { roomId: room.roomId, topic });
  });
}

export async function remove(context: CommandContext): Promise<void> {
  await inRoom(context, async (client, room) => {
    const userId = qualifyUser(context.inv.arg("USER"), client.userId);
    await client.removeUser(room.roomId, userId);
    context.out.result(`removed ${userId} from ${label(room)}`, {
      roomId: room.roomId,
      userId,
      removed: true,
    });
  });
}

export async function leave(context: CommandContext): Promise<void> {
  await inRoom(context, async (client, room) => {
    await client.leave(room.roomId);
    context.out.result(`left ${label(room)}`, { roomId: room.roomId, left: true });
  });
}
