// D22: events as clients see them: no sender; origin, event_id, type, content, origin_server_ts,
// room_id where the endpoint includes it, state_key on state events, and unsigned.
import type { Pdu } from "../../protocol/pdu/types.js";
import type { EventRow } from "./roomStore.js";

export interface ClientEvent {
  readonly event_id: string;
  readonly type: string;
  readonly content: Readonly<Record<string, unknown>>;
  readonly origin: string;
  readonly origin_server_ts: number;
  readonly room_id?: string;
  readonly state_key?: string;
  readonly unsigned: Record<string, unknown>;
}

export function toClientEvent(
  eventId: string,
  pdu: Pdu,
  options: { withRoomId: boolean; now: number },
): ClientEvent {
  return {
    event_id: eventId,
    type: pdu.type,
    content: pdu.content,
    origin: pdu.origin,
    origin_server_ts: pdu.origin_server_ts,
    ...(options.withRoomId ? { room_id: pdu.room_id } : {}),
    ...(pdu.state_key !== undefined ? { state_key: pdu.state_key } : {}),
    unsigned: { age: Math.max(0, options.now - pdu.origin_server_ts) },
  };
}

export function rowToClientEvent(row: EventRow, options: { withRoomId: boolean; now: number }): ClientEvent {
  return toClientEvent(row.event_id, JSON.parse(row.pdu) as Pdu, options);
}
