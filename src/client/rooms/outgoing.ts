// Sending a room message (section 8) as two core steps with no I/O: encrypt in the group's
// current epoch (the request to make), then settle the server's answer: taken (our history and
// the app's event) or a 409 (D14: catch up with the commit that moved the epoch, then encrypt
// again from the outbox). The driver makes the request and keeps the outbox.
import { defaultAlgorithm, ENCRYPTED_EVENT_TYPE, namesForRoomVersion } from "../../protocol/names.js";
import { encryptRoomMessage } from "../mls/engine.js";
import type { DeviceRef, TimelineMessage } from "../events.js";
import type { Room, RoomEffect } from "./roomReducer.js";

export interface OutboxEntry {
  readonly roomId: string;
  readonly txnId: string;
  readonly type: string;
  readonly content: Record<string, unknown>;
}

/** The PUT to make: `path` below /_matrix/client/v3, without the encoding of its segments. */
export interface SendRequest {
  readonly roomId: string;
  readonly eventType: string;
  readonly txnId: string;
  readonly body: { readonly algorithm: string; readonly ciphertext: string };
}

/**
 * Encrypts the entry in the room's current epoch. The returned room's ratchet moved: the driver
 * stores it before the ciphertext leaves (no key reuse after a restart). Undefined when this
 * device is not in the room's group.
 */
export async function encryptOutgoing(
  room: Room | undefined,
  entry: OutboxEntry,
): Promise<{ room: Room; request: SendRequest } | undefined> {
  const names = room?.record.roomVersion ? namesForRoomVersion(room.record.roomVersion) : undefined;
  if (!room?.group || room.record.removed || !names) return undefined;
  const encrypted = await encryptRoomMessage(room.group, { type: entry.type, content: entry.content });
  return {
    room: { ...room, group: encrypted.state },
    request: {
      roomId: entry.roomId,
      eventType: ENCRYPTED_EVENT_TYPE,
      txnId: entry.txnId,
      body: { algorithm: defaultAlgorithm(names), ciphertext: encrypted.ciphertext },
    },
  };
}

export type SendReply =
  | { readonly kind: "taken"; readonly eventId: string }
  /** D12/D14: the server is in another epoch; the ciphertext was not stored. */
  | { readonly kind: "epochMoved" };

/**
 * The server's answer to a send. Taken: the message joins our history (we keep our own
 * plaintext: MLS cannot decrypt one's own message) and the app hears of it. Epoch moved: the
 * room is unchanged and the driver catches up (one more sync) before encrypting again.
 */
export function settleSend(
  room: Room,
  entry: OutboxEntry,
  reply: SendReply,
  context: { readonly own: DeviceRef; readonly now: number },
): { room: Room; effects: readonly RoomEffect[] } | "catchUp" {
  if (reply.kind === "epochMoved") return "catchUp";
  const message: TimelineMessage = {
    roomId: entry.roomId,
    eventId: reply.eventId,
    sender: context.own,
    type: entry.type,
    content: entry.content,
    originServerTs: context.now,
    own: true,
  };
  const record = { ...room.record, nextSeq: room.record.nextSeq + 1 };
  return {
    room: { ...room, record },
    effects: [
      { kind: "timeline", message, seq: room.record.nextSeq },
      { kind: "emit", event: { kind: "message", ...message } },
    ],
  };
}
