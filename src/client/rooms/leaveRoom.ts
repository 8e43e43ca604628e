// Section 7, leaving: a Remove proposal for our own device (ts-mls has no self-remove), which
// another member commits; then /leave, and the group's secrets are deleted.
import { defaultAlgorithm, namesForRoomVersion } from "../../protocol/names.js";
import type { ClientData } from "../clientData.js";
import { MyelinError } from "../errors.js";
import { segment, type MatrixHttp } from "../http/matrixHttp.js";
import { createSelfRemoveProposal, groupMembers } from "../mls/engine.js";
import type { SerialQueue } from "../serialQueue.js";
import { decodeEventId, ignoreBody } from "../wire/replies.js";
import { isEpochMismatch } from "./roomCommits.js";
import type { RoomRecord } from "./roomRecord.js";

export interface LeaveDeps {
  readonly data: ClientData;
  readonly http: MatrixHttp;
  readonly queue: SerialQueue;
  readonly newId: () => string;
  /** Resolves after one more complete sync pass (a 409: catch up, then propose again). */
  readonly nextSync: () => Promise<void>;
}

export async function leaveRoom(deps: LeaveDeps, roomId: string): Promise<void> {
  if (!deps.data.rooms.has(roomId)) throw new MyelinError("UNKNOWN_ROOM", `unknown room ${roomId}`);
  const inGroup = () => deps.data.groups.has(roomId) && !deps.data.rooms.get(roomId)?.removed;
  for (let attempt = 0; attempt < 8 && inGroup(); attempt++) {
    const sent = await deps.queue.run(roomId, async () => {
      const room = deps.data.rooms.get(roomId)!;
      const group = deps.data.groups.get(roomId);
      const names = room.roomVersion ? namesForRoomVersion(room.roomVersion) : undefined;
      if (!group || !names || groupMembers(group).length <= 1) return true;
      const proposal = await createSelfRemoveProposal(group);
      await deps.data.saveRoom(room, { group: proposal.state });
      try {
        const eventId = await deps.http.request(
          "PUT",
          `/rooms/${segment(roomId)}/send/m.room.encrypted/${deps.newId()}`,
          decodeEventId,
          { body: { algorithm: defaultAlgorithm(names), ciphertext: proposal.ciphertext } },
        );
        await deps.data.markOwnEvent(roomId, eventId); // MLS cannot process its own proposal
        return true;
      } catch (error) {
        if (isEpochMismatch(error)) return false;
        throw error;
      }
    });
    if (sent) break;
    await deps.nextSync();
  }
  await deps.http.request("POST", `/rooms/${segment(roomId)}/leave`, ignoreBody, { body: {} });
  await deps.queue.run(roomId, async () => {
    const room = deps.data.rooms.get(roomId)!;
    const left: RoomRecord = {
      ...room,
      membership: "left",
      removed: true,
      pending: undefined,
      deliveries: [],
      buffered: [],
      epochLeftAt: {},
    };
    await deps.data.saveRoom(left, { group: null, pending: null });
  });
}
