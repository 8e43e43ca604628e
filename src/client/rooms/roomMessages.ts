// Sending room messages (section 8): encrypted in the group's current epoch, written to the
// outbox first, re-encrypted after a 409 (D14) once the group caught up: never lost.
import { hasPendingProposals } from "../mls/engine.js";
import { segment, type MatrixHttp } from "../http/matrixHttp.js";
import { jsonBytes, ownEventKey, parseJsonBytes, type ClientData } from "../clientData.js";
import type { ClientEvent, DeviceRef } from "../events.js";
import { MyelinError } from "../errors.js";
import type { SerialQueue } from "../serialQueue.js";
import { isEpochMismatch } from "./roomCommits.js";
import { decodeEventId } from "../wire/replies.js";
import { encryptOutgoing, settleSend, type OutboxEntry, type SendReply } from "./outgoing.js";

export type { OutboxEntry } from "./outgoing.js";

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

  /** One try (inside the room's queue): the event ID, or undefined after a 409 (D14). */
  private async attempt(entry: OutboxEntry): Promise<string | undefined> {
    const { data } = this.deps;
    const before = data.room(entry.roomId);
    const encrypted = await encryptOutgoing(before, entry);
    if (!before || !encrypted) {
      await data.store.delete("outbox", `msg:${entry.txnId}`);
      throw new MyelinError("NOT_IN_ROOM", `this device is not in the MLS group of ${entry.roomId}`);
    }
    // The ratchet moved: store the new state before the ciphertext leaves (no key reuse on restart).
    await data.saveRoomStep(before, encrypted.room, []);
    const { request } = encrypted;
    let reply: SendReply;
    try {
      const path = `/rooms/${segment(request.roomId)}/send/${request.eventType}/${segment(request.txnId)}`;
      reply = {
        kind: "taken",
        eventId: await this.deps.http.request("PUT", path, decodeEventId, { body: request.body }),
      };
    } catch (error) {
      if (!isEpochMismatch(error)) throw error;
      reply = { kind: "epochMoved" };
    }
    const settled = settleSend(encrypted.room, entry, reply, { own: this.deps.own, now: this.deps.now() });
    if (settled === "catchUp" || reply.kind !== "taken") return undefined;
    await data.store.transaction([
      { op: "delete", ns: "outbox", key: `msg:${entry.txnId}` },
      { op: "put", ns: "outbox", key: ownEventKey(entry.roomId, reply.eventId), value: new Uint8Array([1]) },
    ]);
    const timeline = settled.effects.flatMap((effect) => (effect.kind === "timeline" ? [effect] : []));
    await data.saveRoomStep(encrypted.room, settled.room, timeline);
    for (const effect of settled.effects) if (effect.kind === "emit") this.deps.emit(effect.event);
    return reply.eventId;
  }
}
