// Recovering from a lost fork (section 5, issue 5): when the homeserver names a current commit our
// group did not follow, our group is on the losing side and cannot read the winning branch. The
// device drops that group and sends the room's other members a fresh key package of its own over
// to-device; any member on the winning side commits "remove the old leaf, add this key package"
// and sends the Welcome. Several members may try: the first commit wins, the others find the key
// package already in the group and drop their attempt.
import { defaultAlgorithm, namesForRoomVersion } from "../../protocol/names.js";
import { groupHasKeyPackage, groupMembers, keyPackageIdentity, type GroupState } from "../mls/engine.js";
import { segment, type MatrixHttp } from "../http/matrixHttp.js";
import type { ClientData } from "../clientData.js";
import type { ClientEvent, DeviceRef } from "../events.js";
import type { KeyPackagePool } from "../keyPackagePool.js";
import type { SerialQueue } from "../serialQueue.js";
import type { CommitPlanner } from "./commitPlan.js";
import type { RoomRecord } from "./roomRecord.js";

export const REWELCOME_REQUEST_TYPE = "de.bwi.mls.rewelcome_request";

export interface RewelcomeDeps {
  readonly data: ClientData;
  readonly http: MatrixHttp;
  readonly queue: SerialQueue;
  readonly pool: KeyPackagePool;
  readonly own: DeviceRef;
  readonly emit: (event: ClientEvent) => void;
  readonly newId: () => string;
  /** Runs a commit intent to its end (RoomCommits.run). */
  readonly commit: (
    roomId: string,
    userId: string,
    deviceId: string,
    planner: CommitPlanner,
  ) => Promise<void>;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export class Rewelcome {
  constructor(private readonly deps: RewelcomeDeps) {}

  /**
   * Compares the homeserver's current commit with the one our group follows (run inside the
   * room's queue, after its timeline was processed). A difference means a lost fork.
   */
  async check(room: RoomRecord, reportedCurrent: string | undefined): Promise<void> {
    const group = this.deps.data.groups.get(room.roomId);
    if (!group || room.removed || reportedCurrent === undefined) return;
    if (room.currentCommitId === undefined) {
      room.currentCommitId = reportedCurrent; // joined from a Welcome at the current commit
      return;
    }
    if (room.currentCommitId === reportedCurrent) return;
    await this.request(room, group, reportedCurrent);
  }

  private async request(room: RoomRecord, group: GroupState, winningCommit: string): Promise<void> {
    const names = room.roomVersion ? namesForRoomVersion(room.roomVersion) : undefined;
    const others = groupMembers(group).filter(
      (m) => !(m.userId === this.deps.own.userId && m.deviceId === this.deps.own.deviceId),
    );
    // The dead branch's secrets go; what we read on it stays in the history.
    room.rewelcomeRequested = true;
    room.pending = undefined;
    room.currentCommitId = undefined;
    room.epochLeftAt = {};
    room.buffered = [];
    await this.deps.data.saveRoom(room, { group: null, pending: null });
    this.deps.emit({ kind: "resync", roomId: room.roomId, winningCommit });
    if (!names || others.length === 0) return;
    const keyPackage = await this.deps.pool.fresh();
    const messages: Record<string, Record<string, unknown>> = {};
    for (const member of others) {
      (messages[member.userId] ??= {})[member.deviceId] = {
        room_id: room.roomId,
        device_id: this.deps.own.deviceId,
        algorithm: defaultAlgorithm(names),
        key_package: keyPackage.wire,
      };
    }
    await this.deps.http.request(
      "PUT",
      `/sendToDevice/${segment(REWELCOME_REQUEST_TYPE)}/${segment(this.deps.newId())}`,
      { body: { messages } },
    );
  }

  /**
   * A member asks to be welcomed again. Only a device already in our group may ask, with a key
   * package carrying that same device's credential and signature key (the homeserver vouches for
   * the to-device sender; the key package's signature key ties it to the leaf we know).
   */
  async handle(senderUser: string, content: Record<string, unknown>): Promise<void> {
    const roomId = content.room_id;
    if (typeof content.device_id !== "string") return;
    // The device ID is the sender's claim; the key package's signature key must match its leaf.
    const sender: DeviceRef = { userId: senderUser, deviceId: content.device_id };
    const wire = content.key_package;
    if (typeof roomId !== "string" || typeof wire !== "string") return;
    const group = this.deps.data.groups.get(roomId);
    const identity = keyPackageIdentity(wire);
    if (!group || !identity || identity.userId !== sender.userId || identity.deviceId !== sender.deviceId)
      return;
    const leaves = groupMembers(group).filter(
      (m) => m.userId === sender.userId && m.deviceId === sender.deviceId,
    );
    if (!leaves.some((leaf) => sameBytes(leaf.signaturePublicKey, identity.signaturePublicKey))) return;
    const planner: CommitPlanner = async (room, current) => {
      if (groupHasKeyPackage(current, wire) || !room.federation) return undefined;
      const old = groupMembers(current)
        .filter((m) => m.userId === sender.userId && m.deviceId === sender.deviceId)
        .map((m) => m.leafIndex);
      return {
        federation: room.federation,
        removeLeafIndices: old,
        add: [{ userId: sender.userId, deviceId: sender.deviceId, keyPackage: wire }],
      };
    };
    await this.deps.commit(roomId, sender.userId, sender.deviceId, planner);
  }
}
