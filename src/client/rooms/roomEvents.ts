// Feeding a room's events into its MLS group: commits move the group on (ours adopted only when
// they come back accepted, section 6), messages are decrypted with the sender's identity (section
// 8), proposals to leave are remembered until committed (section 7).
import { decodeBase64Lenient } from "../../protocol/base64.js";
import { decodeFederationObject, MAX_SECURITY_WINDOW_SECONDS } from "../../protocol/federationObject.js";
import { readMlsFraming } from "../../protocol/mlsFraming.js";
import { ENCRYPTED_EVENT_TYPE, namesForRoomVersion } from "../../protocol/names.js";
import {
  groupEpoch,
  groupMembers,
  pruneEpochSecrets,
  receiveRoomMessage,
  roomStateOf,
  wipeConsumedSecrets,
  type GroupMember,
  type GroupState,
  type RoomStateMap,
} from "../mls/engine.js";
import type { ClientData } from "../clientData.js";
import type { ClientEvent, DeviceRef, TimelineMessage } from "../events.js";
import { MAX_BUFFERED_EVENTS, type RoomEvent, type RoomRecord } from "./roomRecord.js";

export type CommitSettlement = "accepted" | "lost";

export interface RoomEventsDeps {
  readonly data: ClientData;
  readonly own: DeviceRef;
  readonly now: () => number;
  readonly emit: (event: ClientEvent) => void;
  /** Our commit `id` came back accepted, or another commit took its epoch. */
  readonly settle: (roomId: string, id: string, outcome: CommitSettlement) => void;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The epoch an event's MLS ciphertext is framed in; undefined when it is not readable. */
export function framedEpoch(ciphertext: unknown): bigint | undefined {
  if (typeof ciphertext !== "string") return undefined;
  try {
    return readMlsFraming(decodeBase64Lenient(ciphertext)).epoch;
  } catch {
    return undefined;
  }
}

const deviceKey = (member: DeviceRef) => `${member.userId}\u0000${member.deviceId}`;

function membershipDiff(before: readonly GroupMember[], after: readonly GroupMember[]) {
  const beforeKeys = new Set(before.map(deviceKey));
  const afterKeys = new Set(after.map(deviceKey));
  const ref = ({ userId, deviceId }: GroupMember): DeviceRef => ({ userId, deviceId });
  return {
    added: after.filter((m) => !beforeKeys.has(deviceKey(m))).map(ref),
    removed: before.filter((m) => !afterKeys.has(deviceKey(m))).map(ref),
  };
}

function stateDiff(before: RoomStateMap, after: RoomStateMap) {
  const changes: { eventType: string; stateKey: string; content: Record<string, unknown> | undefined }[] = [];
  const types = new Set([...Object.keys(before), ...Object.keys(after)]);
  for (const eventType of types) {
    const keys = new Set([...Object.keys(before[eventType] ?? {}), ...Object.keys(after[eventType] ?? {})]);
    for (const stateKey of keys) {
      const old = before[eventType]?.[stateKey];
      const now = after[eventType]?.[stateKey];
      if (JSON.stringify(old) !== JSON.stringify(now)) {
        changes.push({ eventType, stateKey, content: now as Record<string, unknown> | undefined });
      }
    }
  }
  return changes;
}

export class RoomEvents {
  constructor(private readonly deps: RoomEventsDeps) {}

  /**
   * Processes a room's new timeline events in order. Events up to the last one processed are
   * skipped, so a sync replayed after a crash does not decrypt anything twice.
   */
  async process(room: RoomRecord, events: readonly RoomEvent[]): Promise<void> {
    let fresh = events;
    if (room.lastEventId !== undefined) {
      const seen = events.findIndex((event) => event.event_id === room.lastEventId);
      if (seen >= 0) fresh = events.slice(seen + 1);
    }
    for (const event of fresh) {
      await this.processOne(room, event);
      room.lastEventId = event.event_id;
    }
    if (fresh.length > 0) await this.deps.data.saveRoom(room);
  }

  /** Events buffered before our Welcome, now that we are in the group. */
  async replayBuffered(room: RoomRecord): Promise<void> {
    const buffered = room.buffered;
    room.buffered = [];
    for (const event of buffered) await this.processOne(room, event);
    await this.deps.data.saveRoom(room);
  }

  private async processOne(room: RoomRecord, event: RoomEvent): Promise<void> {
    const names = room.roomVersion ? namesForRoomVersion(room.roomVersion) : undefined;
    const group = this.deps.data.groups.get(room.roomId);
    const relevant =
      event.type === ENCRYPTED_EVENT_TYPE || (names !== undefined && event.type === names.commitType);
    if (!relevant) return; // the create event; pending commits come back as commits once applied
    if (!group) {
      // Not in the group (yet): keep what may be ours to read once the Welcome arrives.
      if (!room.removed && room.buffered.length < MAX_BUFFERED_EVENTS) room.buffered.push(event);
      return;
    }
    if (event.type === ENCRYPTED_EVENT_TYPE) await this.message(room, group, event);
    else await this.commit(room, group, event);
  }

  private async commit(room: RoomRecord, group: GroupState, event: RoomEvent): Promise<void> {
    const epoch = framedEpoch(event.content.ciphertext);
    const current = groupEpoch(group);
    if (epoch === undefined || epoch < current) return; // before our time in the group, or already applied
    if (epoch > current) {
      this.deps.emit({
        kind: "error",
        roomId: room.roomId,
        eventId: event.event_id,
        error: "undecryptable",
        reason: `commit for epoch ${epoch} while this device is in epoch ${current}: a commit was missed`,
      });
      return;
    }
    const ours = room.pending && BigInt(room.pending.epoch) === epoch ? room.pending : undefined;
    const pendingCommit = ours ? this.deps.data.pendingCommits.get(room.roomId) : undefined;
    let next: GroupState;
    let removedSelf = false;
    let ownAccepted = false;
    try {
      const result = await receiveRoomMessage(group, event.content.ciphertext as string, pendingCommit);
      if (result.kind === "ownCommit") {
        next = result.state;
        ownAccepted = true;
        if (pendingCommit) wipeConsumedSecrets(pendingCommit);
        room.federation = ours?.federation ?? room.federation;
      } else if (result.kind === "commit") {
        next = result.state;
        removedSelf = result.removedSelf;
        try {
          room.federation = decodeFederationObject(result.authenticatedData);
        } catch {
          // the server checked it (R9.5-R9.10); keep what we had if it still cannot be read
        }
      } else return;
    } catch (error) {
      this.deps.emit({
        kind: "error",
        roomId: room.roomId,
        eventId: event.event_id,
        error: "undecryptable",
        reason: `commit could not be processed: ${describe(error)}`,
      });
      if (ours) this.deps.settle(room.roomId, ours.id, "lost");
      return;
    }
    if (ours) {
      room.pending = undefined;
      if (ownAccepted && (ours.added.length > 0 || ours.inviteUsers.length > 0)) {
        room.deliveries.push({
          id: ours.id,
          welcome: ours.welcome,
          devices: ours.added.map(({ userId, deviceId }) => ({ userId, deviceId })),
          inviteUsers: [...ours.inviteUsers],
        });
      }
    }
    if (removedSelf) {
      room.removed = true;
      room.leavers = [];
      room.epochLeftAt = {};
      await this.deps.data.saveRoom(room, { group: null, pending: null });
      this.deps.emit({ kind: "removed", roomId: room.roomId });
      if (ours) this.deps.settle(room.roomId, ours.id, "lost");
      return;
    }
    const members = { before: groupMembers(group), after: groupMembers(next) };
    const { added, removed } = membershipDiff(members.before, members.after);
    // ts-mls rc.10 sends a single removal without an update path: refresh before the next send.
    room.needsPathUpdate = removed.length === 1;
    room.leavers = room.leavers.filter((leaver) => members.after.some((m) => m.userId === leaver.userId));
    room.epochLeftAt[String(current)] = this.deps.now();
    room.currentCommitId = event.event_id;
    next = this.pruned(room, next);
    await this.deps.data.saveRoom(room, { group: next, pending: ours ? null : undefined });
    if (ours) this.deps.settle(room.roomId, ours.id, ownAccepted ? "accepted" : "lost");
    if (added.length > 0 || removed.length > 0) {
      this.deps.emit({ kind: "membership", roomId: room.roomId, added, removed });
    }
    for (const change of stateDiff(roomStateOf(group), roomStateOf(next))) {
      this.deps.emit({ kind: "state", roomId: room.roomId, ...change });
    }
  }

  private async message(room: RoomRecord, group: GroupState, event: RoomEvent): Promise<void> {
    if (await this.deps.data.hasOwnEvent(room.roomId, event.event_id)) return;
    const epoch = framedEpoch(event.content.ciphertext);
    if (epoch === undefined) return this.undecryptable(room, event, "not an MLS private message");
    if (room.joinedEpoch !== undefined && epoch < BigInt(room.joinedEpoch)) return; // before we joined
    try {
      const result = await receiveRoomMessage(group, event.content.ciphertext as string);
      if (result.kind === "application") {
        const message: TimelineMessage = {
          roomId: room.roomId,
          eventId: event.event_id,
          sender: { userId: result.sender.userId, deviceId: result.sender.deviceId },
          type: result.message.type,
          content: result.message.content,
          originServerTs: event.origin_server_ts,
          own: false,
        };
        await this.deps.data.saveRoom(room, { group: result.state });
        await this.deps.data.appendTimeline(room, [message]);
        this.deps.emit({ kind: "message", ...message });
      } else if (result.kind === "proposal") {
        const leaver = groupMembers(group).find(
          (m) => m.leafIndex === result.senderLeafIndex && result.removedLeafIndices.includes(m.leafIndex),
        );
        if (leaver) {
          room.leavers.push({ userId: leaver.userId, deviceId: leaver.deviceId });
        }
        await this.deps.data.saveRoom(room, { group: result.state });
      }
    } catch (error) {
      this.undecryptable(room, event, describe(error));
    }
  }

  private undecryptable(room: RoomRecord, event: RoomEvent, reason: string): void {
    this.deps.emit({
      kind: "error",
      roomId: room.roomId,
      eventId: event.event_id,
      error: "undecryptable",
      reason,
    });
  }

  /** Deletes the secrets of epochs whose security.window ran out since the last commit. */
  async pruneExpired(room: RoomRecord): Promise<void> {
    const group = this.deps.data.groups.get(room.roomId);
    if (!group || Object.keys(room.epochLeftAt).length === 0) return;
    const before = Object.keys(room.epochLeftAt).length;
    const next = this.pruned(room, group);
    if (Object.keys(room.epochLeftAt).length !== before) await this.deps.data.saveRoom(room, { group: next });
  }

  /** security.window: secrets of epochs left longer ago than the window are deleted. */
  pruned(room: RoomRecord, group: GroupState): GroupState {
    const windowMs = Math.min(room.federation?.security.window ?? 0, MAX_SECURITY_WINDOW_SECONDS) * 1000;
    const now = this.deps.now();
    const keep = (epoch: bigint) => {
      const left = room.epochLeftAt[String(epoch)];
      return left !== undefined && now - left < windowMs;
    };
    for (const [epoch, left] of Object.entries(room.epochLeftAt)) {
      if (now - left >= windowMs) delete room.epochLeftAt[epoch];
    }
    return pruneEpochSecrets(group, keep);
  }
}
