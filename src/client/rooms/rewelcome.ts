// Recovering from a lost fork (section 5, issue 5): when the homeserver names a current commit our
// group did not follow, our group is on the losing side and cannot read the winning branch. The
// device drops that group and sends the room's other members a fresh key package of its own over
// to-device; any member on the winning side commits "remove the old leaf, add this key package"
// and sends the Welcome. Several members may try: the first commit wins, the others find the key
// package already in the group and drop their attempt.
import { defaultAlgorithm, namesForRoomVersion } from "../../protocol/names.js";
import { groupHasKeyPackage, groupMembers, keyPackageIdentity } from "../mls/engine.js";
import { segment, type MatrixHttp } from "../http/matrixHttp.js";
import type { ClientData } from "../clientData.js";
import type { ClientEvent, DeviceRef } from "../events.js";
import type { KeyPackagePool } from "../keyPackagePool.js";
import type { SerialQueue } from "../serialQueue.js";
import { ignoreBody } from "../wire/replies.js";
import type { CommitPlanner } from "./commitPlan.js";
import type { RoomRecord } from "./roomRecord.js";
import { dropLostBranch } from "./roomReducer.js";
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
   * The room reducer found the homeserver's current commit is not the one our group follows:
   * we are on the losing side of a fork (run inside the room's queue). The dead branch's secrets
   * go (what we read on it stays in the history) and the other members are asked for a Welcome.
   */
  async lostFork(roomId: string, winningCommit: string): Promise<void> {
    const room = this.deps.data.room(roomId);
    if (!room?.group) return;
    const keyPackage = await this.deps.pool.fresh();
    const dropped = dropLostBranch(room, this.deps.own, keyPackage.wire);
    await this.deps.data.saveRoomStep(room, dropped.room, []);
    this.deps.emit({ kind: "resync", roomId, winningCommit });
    await this.send(dropped.room.record);
  }

  /** Asks again while no Welcome came: a member may have been offline or lost the request. */
  async resendIfDue(roomId: string): Promise<void> {
    const room = this.deps.data.rooms.get(roomId);
    if (room?.rewelcome && this.deps.now() - room.rewelcome.sentAt >= RESEND_MS) await this.send(room);
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
    await this.deps.data.saveRoom({ ...room, rewelcome: { ...request, sentAt: this.deps.now() } });
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
