// One /sync pass, driven: the reply decoded, Welcomes first, then invites, joined rooms' timelines
// and left rooms, each fed to the room reducer (rooms/roomReducer.ts) inside the room's queue;
// each step stored in one transaction and its effects carried out; then the clock's tick
// (security.window), key package top-up, the sync token, deliveries and leavers to commit.
import { ENCRYPTED_EVENT_TYPE } from "../../protocol/names.js";
import type { ClientData } from "../clientData.js";
import type { ClientEvent, DeviceRef } from "../events.js";
import type { MatrixHttp } from "../http/matrixHttp.js";
import type { KeyPackagePool } from "../keyPackagePool.js";
import { groupRoomId, joinFromWelcome, welcomeKeyPackageRefs } from "../mls/engine.js";
import { sendDeliveries } from "../rooms/deliveries.js";
import { shouldCommitLeavers } from "../rooms/planners.js";
import { REWELCOME_REQUEST_TYPE, type Rewelcome } from "../rooms/rewelcome.js";
import { ensureRoomVersion, fillGap } from "../rooms/roomLookup.js";
import {
  emptyRoom,
  reduceRoom,
  type CommitSettlement,
  type Room,
  type RoomInput,
} from "../rooms/roomReducer.js";
import type { RoomEvent } from "../rooms/roomRecord.js";
import type { SerialQueue } from "../serialQueue.js";
import { decodeSyncResponse, SYNC_FILTER } from "../wire/sync.js";

export interface SyncPassDeps {
  readonly data: ClientData;
  readonly http: MatrixHttp;
  readonly queue: SerialQueue;
  readonly pool: KeyPackagePool;
  readonly rewelcome: Rewelcome;
  readonly own: DeviceRef;
  readonly now: () => number;
  readonly emit: (event: ClientEvent) => void;
  /** Our commit `commitId` came back accepted, or another commit took its epoch. */
  readonly settle: (commitId: string, outcome: CommitSettlement) => void;
  /** Commits the Remove proposals of members who asked to leave (section 7). */
  readonly commitLeavers: (roomId: string) => Promise<void>;
}

export class SyncPass {
  constructor(private readonly deps: SyncPassDeps) {}

  async run(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const since = await this.deps.data.syncToken();
    const sync = await this.deps.http.request("GET", "/sync", decodeSyncResponse, {
      query: { since, timeout: since === undefined ? 0 : timeoutMs, filter: SYNC_FILTER },
      ...(signal ? { signal } : {}),
    });
    // Welcomes first: a room's events in the same response may be ours to read only with them.
    for (const event of sync.to_device?.events ?? []) {
      if (event.type === "m.room.encrypted" && typeof event.content.ciphertext === "string") {
        await this.acceptWelcome(event.content.ciphertext, event.sender);
      } else if (event.type === REWELCOME_REQUEST_TYPE) {
        // Not awaited: the commit it makes waits for later sync passes.
        void this.deps.rewelcome.handle(event.sender, event.content).catch((error: unknown) =>
          this.deps.emit({
            kind: "error",
            error: "sync",
            reason: `re-welcome of ${event.sender}: ${String(error)}`,
          }),
        );
      }
    }
    for (const [roomId, invite] of sync.rooms?.invite ?? []) {
      await this.deps.queue.run(roomId, () =>
        this.reduce(roomId, { kind: "invited", state: invite.invite_state?.events ?? [] }, "invited"),
      );
    }
    for (const [roomId, joined] of sync.rooms?.join ?? []) {
      await this.deps.queue.run(roomId, async () => {
        const timeline = joined.timeline?.events ?? [];
        const room = await this.reduce(
          roomId,
          { kind: "joined", events: [...(joined.state?.events ?? []), ...timeline] },
          "joined",
        );
        const versioned = await ensureRoomVersion(this.deps.http, room.record);
        if (versioned !== room.record) await this.deps.data.saveRoom(versioned);
        const gap = joined.timeline?.limited
          ? await fillGap(this.deps.http, versioned, joined.timeline.prev_batch)
          : [];
        const events = [...gap, ...timeline];
        await this.reduce(roomId, {
          kind: "events",
          events,
          ownEvents: await this.ownEvents(roomId, events),
        });
        await this.reduce(roomId, { kind: "currentCommit", eventId: joined.currentCommit });
      });
    }
    for (const roomId of sync.rooms?.leave?.keys() ?? []) {
      // Our user left (from another device): the server sends this device nothing more, so
      // its group state is useless and, holding secrets, deleted.
      await this.deps.queue.run(roomId, () => this.reduce(roomId, { kind: "left" }));
    }
    for (const roomId of [...this.deps.data.rooms.keys()]) {
      await this.deps.queue.run(roomId, async () => {
        await this.reduce(roomId, { kind: "tick" });
        await this.deps.rewelcome.resendIfDue(roomId);
      });
    }
    await this.deps.pool.topUp(sync.device_one_time_keys_count, sync.device_unused_fallback_key_types);
    await this.deps.data.saveSyncToken(sync.next_batch);
    await sendDeliveries(this.deps.http, this.deps.data, this.deps.queue);
    this.commitLeaversWhereDue();
  }

  /** Section 9: a Welcome names one of our key packages; joining the group uses it up. */
  private async acceptWelcome(welcome: string, sender: string): Promise<void> {
    let found;
    let group;
    try {
      found = await this.deps.pool.find(welcomeKeyPackageRefs(welcome));
      if (!found) return; // a Welcome for another device's key packages, or an old one
      group = await joinFromWelcome(welcome, found.keyPackage);
    } catch (error) {
      this.deps.emit({ kind: "error", error: "welcome", reason: `Welcome from ${sender}: ${String(error)}` });
      return;
    }
    const roomId = groupRoomId(group);
    await this.deps.queue.run(roomId, async () => {
      const known = this.deps.data.room(roomId);
      if (known?.group && !known.record.removed) return;
      const ownEvents = await this.ownEvents(roomId, known?.record.buffered ?? []);
      await this.reduce(roomId, { kind: "welcome", group, ownEvents }, "invited");
      await this.deps.pool.used(found.storeKey);
    });
  }

  /**
   * Runs one input through the room reducer (inside the room's queue): the step is stored in one
   * transaction, then its effects are carried out. A room not known yet starts as `absent`.
   */
  private async reduce(roomId: string, input: RoomInput, absent: "invited" | "joined"): Promise<Room>;
  private async reduce(roomId: string, input: RoomInput): Promise<Room | undefined>;
  private async reduce(
    roomId: string,
    input: RoomInput,
    absent?: "invited" | "joined",
  ): Promise<Room | undefined> {
    const before = this.deps.data.room(roomId);
    const room = before ?? (absent ? emptyRoom(roomId, absent) : undefined);
    if (!room) return undefined;
    const { room: after, effects } = await reduceRoom(room, input, {
      own: this.deps.own,
      now: this.deps.now(),
    });
    const timeline = effects.flatMap((effect) => (effect.kind === "timeline" ? [effect] : []));
    if (after !== room || before === undefined) await this.deps.data.saveRoomStep(before, after, timeline);
    for (const effect of effects) {
      if (effect.kind === "emit") this.deps.emit(effect.event);
      else if (effect.kind === "settle") this.deps.settle(effect.commitId, effect.outcome);
      else if (effect.kind === "lostFork") await this.deps.rewelcome.lostFork(roomId, effect.winningCommit);
    }
    return after;
  }

  /** The events among `events` this device sent: MLS cannot decrypt one's own messages. */
  private async ownEvents(roomId: string, events: readonly RoomEvent[]): Promise<ReadonlySet<string>> {
    const own = new Set<string>();
    for (const event of events) {
      if (event.type === ENCRYPTED_EVENT_TYPE && (await this.deps.data.hasOwnEvent(roomId, event.event_id))) {
        own.add(event.event_id);
      }
    }
    return own;
  }

  private commitLeaversWhereDue(): void {
    for (const room of this.deps.data.rooms.values()) {
      const group = this.deps.data.groups.get(room.roomId);
      if (!group || room.removed || room.pending || !shouldCommitLeavers(room, group)) continue;
      void this.deps.commitLeavers(room.roomId).catch((error: unknown) =>
        this.deps.emit({
          kind: "error",
          roomId: room.roomId,
          error: "sync",
          reason: `committing leavers: ${String(error)}`,
        }),
      );
    }
  }
}
