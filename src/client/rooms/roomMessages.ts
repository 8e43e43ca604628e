// Sending room messages (section 8): encrypted in the group's current epoch, written to the
// outbox first, re-encrypted after a 409 (D14) once the group caught up: never lost.
import { defaultAlgorithm, ENCRYPTED_EVENT_TYPE, namesForRoomVersion } from "../../protocol/names.js";
import { encryptRoomMessage, hasPendingProposals } from "../mls/engine.js";
import { segment, type MatrixHttp } from "../http/matrixHttp.js";
import { jsonBytes, ownEventKey, parseJsonBytes, type ClientData } from "../clientData.js";
import type { ClientEvent, DeviceRef, TimelineMessage } from "../events.js";
import { MyelinError } from "../errors.js";
import type { SerialQueue } from "../serialQueue.js";
import { isEpochMismatch } from "./roomCommits.js";
import { decodeEventId } from "../wire/replies.js";

export interface OutboxEntry {
  readonly roomId: string;
  readonly txnId: string;
  readonly type: string;
  readonly content: Record<string, unknown>;
}

export interface RoomMessagesDeps {
  readonly data: ClientData;
  readonly http: MatrixHttp;
  readonly queue: SerialQueue;
  readonly own: DeviceRef;
  readonly now: () => number;
  readonly emit: (event: ClientEvent) => void;
  readonly nextSync: () => Promise<void>;
  /** ts-mls rc.10 leaves a single removal without an update path: refresh keys before sending. */
  readonly refreshAfterRemoval: (roomId: string) => Promise<void>;
  /** No application message while received proposals wait: commit them first (RFC 9420 §12.2). */
  readonly commitPendingProposals: (roomId: string) => Promise<void>;
}

const MAX_ATTEMPTS = 8;

export class RoomMessages {
  constructor(private readonly deps: RoomMessagesDeps) {}

  async send(entry: OutboxEntry): Promise<string> {
    const { data } = this.deps;
    // The plaintext waits in the outbox until the server took it: a crash re-sends it (same txn ID).
    await data.store.put("outbox", `msg:${entry.txnId}`, jsonBytes(entry));
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const group = data.groups.get(entry.roomId);
      if (group && hasPendingProposals(group)) await this.deps.commitPendingProposals(entry.roomId);
      if (data.rooms.get(entry.roomId)?.needsPathUpdate) await this.deps.refreshAfterRemoval(entry.roomId);
      const result = await this.deps.queue.run(entry.roomId, () => this.attempt(entry));
      if (result !== undefined) return result;
      await this.deps.nextSync(); // D14: catch up with the commit that moved the epoch, then re-encrypt
    }
    throw new MyelinError(
      "SEND_FAILED",
      `the epoch of ${entry.roomId} kept moving; the message waits in the outbox`,
    );
  }

  /** Messages left in the outbox by an earlier run. */
  async resend(): Promise<void> {
    for (const { value } of await this.deps.data.store.list("outbox", "msg:")) {
      const entry = parseJsonBytes<OutboxEntry>(value);
      await this.send(entry);
    }
  }

  private async attempt(entry: OutboxEntry): Promise<string | undefined> {
    const { data } = this.deps;
    const room = data.rooms.get(entry.roomId);
    const group = data.groups.get(entry.roomId);
    const names = room?.roomVersion ? namesForRoomVersion(room.roomVersion) : undefined;
    if (!room || !group || room.removed || !names) {
      await data.store.delete("outbox", `msg:${entry.txnId}`);
      throw new MyelinError("NOT_IN_ROOM", `this device is not in the MLS group of ${entry.roomId}`);
    }
    const encrypted = await encryptRoomMessage(group, { type: entry.type, content: entry.content });
    // The ratchet moved: store the new state before the ciphertext leaves (no key reuse on restart).
    await data.saveRoom(room, { group: encrypted.state });
    let eventId: string;
    try {
      eventId = await this.deps.http.request(
        "PUT",
        `/rooms/${segment(entry.roomId)}/send/${ENCRYPTED_EVENT_TYPE}/${segment(entry.txnId)}`,
        decodeEventId,
        { body: { algorithm: defaultAlgorithm(names), ciphertext: encrypted.ciphertext } },
      );
    } catch (error) {
      if (isEpochMismatch(error)) return undefined;
      throw error;
    }
    const message: TimelineMessage = {
      roomId: entry.roomId,
      eventId,
      sender: this.deps.own,
      type: entry.type,
      content: entry.content,
      originServerTs: this.deps.now(),
      own: true,
    };
    await data.store.transaction([
      { op: "delete", ns: "outbox", key: `msg:${entry.txnId}` },
      { op: "put", ns: "outbox", key: ownEventKey(entry.roomId, eventId), value: new Uint8Array([1]) },
    ]);
    await data.appendTimeline(room, [message]);
    this.deps.emit({ kind: "message", ...message });
    return eventId;
  }
}
