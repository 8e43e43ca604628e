// The SDK's persistent data, cached in memory: room records, group states, our commits in flight,
// decrypted history, the session. Every change is written through before the caller goes on.
import type { ClientStore, StoreOp } from "./store/clientStore.js";
import { decodeGroupState, encodeGroupState, type GroupState, type PendingCommit } from "./mls/engine.js";
import type { RoomRecord } from "./rooms/roomRecord.js";
import type { Room } from "./rooms/roomReducer.js";
import type { TimelineMessage } from "./events.js";

export interface Session {
  readonly baseUrl: string;
  readonly userId: string;
  readonly deviceId: string;
  readonly accessToken: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function jsonBytes(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
}

export function parseJsonBytes<T>(bytes: Uint8Array): T {
  return JSON.parse(decoder.decode(bytes)) as T;
}

const SEQ_WIDTH = 12;
/** Events this device sent: MLS cannot decrypt one's own messages, so their echo is skipped. */
export const ownEventKey = (roomId: string, eventId: string) => `sent:${roomId}:${eventId}`;
const timelineKey = (roomId: string, seq: number) => `${roomId}\u0001${String(seq).padStart(SEQ_WIDTH, "0")}`;

export class ClientData {
  readonly rooms = new Map<string, RoomRecord>();
  readonly groups = new Map<string, GroupState>();
  /** Our commit in flight per room; its `consumed` secrets are lost on restart, which only delays their wiping. */
  readonly pendingCommits = new Map<string, PendingCommit>();

  private constructor(readonly store: ClientStore) {}

  static async load(store: ClientStore): Promise<ClientData> {
    const data = new ClientData(store);
    for (const { key, value } of await store.list("rooms")) data.rooms.set(key, parseJsonBytes(value));
    for (const { key, value } of await store.list("groups")) {
      if (key.startsWith("pending:")) continue;
      data.groups.set(key, decodeGroupState(value));
    }
    for (const [roomId, room] of data.rooms) {
      const pendingState = await store.get("groups", `pending:${roomId}`);
      if (room.pending && pendingState) {
        data.pendingCommits.set(roomId, {
          ciphertext: room.pending.ciphertext,
          ...(room.pending.welcome ? { welcome: room.pending.welcome } : {}),
          pendingState: decodeGroupState(pendingState),
          consumed: [],
        });
      }
    }
    return data;
  }

  /** A room as the reducer sees it (record, group, our staged commit), if this device knows it. */
  room(roomId: string): Room | undefined {
    const record = this.rooms.get(roomId);
    if (!record) return undefined;
    return { record, group: this.groups.get(roomId), staged: this.pendingCommits.get(roomId) };
  }

  /**
   * Stores a reducer step in one transaction: the record, the group state and staged commit where
   * they changed (gone ones deleted: their secrets must go), and new history entries.
   */
  async saveRoomStep(
    before: Room | undefined,
    after: Room,
    timeline: readonly { readonly message: TimelineMessage; readonly seq: number }[],
  ): Promise<void> {
    const roomId = after.record.roomId;
    const ops: StoreOp[] = [{ op: "put", ns: "rooms", key: roomId, value: jsonBytes(after.record) }];
    if (after.group !== before?.group) {
      if (after.group)
        ops.push({ op: "put", ns: "groups", key: roomId, value: encodeGroupState(after.group) });
      else ops.push({ op: "delete", ns: "groups", key: roomId });
    }
    if (after.staged !== before?.staged) {
      if (after.staged) {
        const value = encodeGroupState(after.staged.pendingState);
        ops.push({ op: "put", ns: "groups", key: `pending:${roomId}`, value });
      } else ops.push({ op: "delete", ns: "groups", key: `pending:${roomId}` });
    }
    for (const { message, seq } of timeline) {
      ops.push({ op: "put", ns: "timeline", key: timelineKey(roomId, seq), value: jsonBytes(message) });
    }
    await this.store.transaction(ops);
    this.rooms.set(roomId, after.record);
    if (after.group) this.groups.set(roomId, after.group);
    else this.groups.delete(roomId);
    if (after.staged) this.pendingCommits.set(roomId, after.staged);
    else this.pendingCommits.delete(roomId);
  }

  async session(): Promise<Session | undefined> {
    const bytes = await this.store.get("account", "session");
    return bytes ? parseJsonBytes<Session>(bytes) : undefined;
  }

  async saveSession(session: Session): Promise<void> {
    await this.store.put("account", "session", jsonBytes(session));
  }

  async syncToken(): Promise<string | undefined> {
    const bytes = await this.store.get("sync", "next_batch");
    return bytes ? decoder.decode(bytes) : undefined;
  }

  async saveSyncToken(token: string): Promise<void> {
    await this.store.put("sync", "next_batch", encoder.encode(token));
  }

  /**
   * Writes a room's record with its group state and commit in flight in one transaction.
   * `group: null` deletes the group state (removed or left: its secrets must go).
   */
  async saveRoom(
    room: RoomRecord,
    changes: { group?: GroupState | null; pending?: PendingCommit | null } = {},
  ): Promise<void> {
    const ops: StoreOp[] = [{ op: "put", ns: "rooms", key: room.roomId, value: jsonBytes(room) }];
    if (changes.group === null) ops.push({ op: "delete", ns: "groups", key: room.roomId });
    else if (changes.group)
      ops.push({ op: "put", ns: "groups", key: room.roomId, value: encodeGroupState(changes.group) });
    if (changes.pending === null) ops.push({ op: "delete", ns: "groups", key: `pending:${room.roomId}` });
    else if (changes.pending) {
      ops.push({
        op: "put",
        ns: "groups",
        key: `pending:${room.roomId}`,
        value: encodeGroupState(changes.pending.pendingState),
      });
    }
    await this.store.transaction(ops);
    this.rooms.set(room.roomId, room);
    if (changes.group === null) this.groups.delete(room.roomId);
    else if (changes.group) this.groups.set(room.roomId, changes.group);
    if (changes.pending === null) this.pendingCommits.delete(room.roomId);
    else if (changes.pending) this.pendingCommits.set(room.roomId, changes.pending);
  }

  /** Appends decrypted messages to the room's history; returns the record with nextSeq advanced. */
  async appendTimeline(room: RoomRecord, messages: readonly TimelineMessage[]): Promise<RoomRecord> {
    if (messages.length === 0) return room;
    const ops: StoreOp[] = messages.map((message, index) => ({
      op: "put",
      ns: "timeline",
      key: timelineKey(room.roomId, room.nextSeq + index),
      value: jsonBytes(message),
    }));
    const next: RoomRecord = { ...room, nextSeq: room.nextSeq + messages.length };
    ops.push({ op: "put", ns: "rooms", key: room.roomId, value: jsonBytes(next) });
    await this.store.transaction(ops);
    this.rooms.set(room.roomId, next);
    return next;
  }

  async timeline(roomId: string): Promise<TimelineMessage[]> {
    const records = await this.store.list("timeline", `${roomId}\u0001`);
    return records.map((record) => parseJsonBytes<TimelineMessage>(record.value));
  }

  async markOwnEvent(roomId: string, eventId: string): Promise<void> {
    await this.store.put("outbox", ownEventKey(roomId, eventId), new Uint8Array([1]));
  }

  async hasOwnEvent(roomId: string, eventId: string): Promise<boolean> {
    return (await this.store.get("outbox", ownEventKey(roomId, eventId))) !== undefined;
  }
}
