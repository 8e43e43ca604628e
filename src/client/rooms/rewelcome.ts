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
import { ignoreBody } from "../wire/replies.js";
import type { CommitPlanner } from "./commitPlan.js";
import type { RoomRecord } from "./roomRecord.js";
import { equalBytes } from "../../protocol/bytes.js";

export const REWELCOME_REQUEST_TYPE = "de.bwi.mls.rewelcome_request";
/** How long a device waits for the Welcome before it asks again. */
const RESEND_MS = 10_000;

export interface RewelcomeDeps {
  readonly data: ClientData;
  readonly http: MatrixHttp;
  readonly queue: SerialQueue;
  readonly pool: KeyPackagePool;
  readonly own: DeviceRef;
  readonly emit: (event: ClientEvent) => void;
  readonly newId: () => string;
  readonly now: () => number;
  /** Runs a commit intent to its end (RoomCommits.run). */
  readonly commit: (
    roomId: string,
    userId: string,
    deviceId: string,
    planner: CommitPlanner,
  ) => Promise<void>;
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
    const to = groupMembers(group)
      .filter((m) => !(m.userId === this.deps.own.userId && m.deviceId === this.deps.own.deviceId))
      .map(({ userId, deviceId }) => ({ userId, deviceId }));
    const keyPackage = await this.deps.pool.fresh();
    // The dead branch's secrets go; what we read on it stays in the history.
    room.pending = undefined;
    room.currentCommitId = undefined;
    room.epochLeftAt = {};
    room.buffered = [];
    room.rewelcome = { keyPackage: keyPackage.wire, to, sentAt: 0 };
    await this.deps.data.saveRoom(room, { group: null, pending: null });
    this.deps.emit({ kind: "resync", roomId: room.roomId, winningCommit });
    await this.send(room);
  }

  /** Asks again while no Welcome came: a member may have been offline or lost the request. */
  async resendIfDue(room: RoomRecord): Promise<void> {
    if (room.rewelcome && this.deps.now() - room.rewelcome.sentAt >= RESEND_MS) await this.send(room);
  }

  private async send(room: RoomRecord): Promise<void> {
    const names = room.roomVersion ? namesForRoomVersion(room.roomVersion) : undefined;
    const request = room.rewelcome;
    if (!names || !request || request.to.length === 0) return;
    const messages: Record<string, Record<string, unknown>> = {};
    for (const member of request.to) {
      (messages[member.userId] ??= {})[member.deviceId] = {
        room_id: room.roomId,
        device_id: this.deps.own.deviceId,
        algorithm: defaultAlgorithm(names),
        key_package: request.keyPackage,
      };
    }
    await this.deps.http.request(
      "PUT",
      `/sendToDevice/${segment(REWELCOME_REQUEST_TYPE)}/${segment(this.deps.newId())}`,
      ignoreBody,
      { body: { messages } },
    );
    request.sentAt = this.deps.now();
    await this.deps.data.saveRoom(room);
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
    if (!leaves.some((leaf) => equalBytes(leaf.signaturePublicKey, identity.signaturePublicKey))) return;
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
