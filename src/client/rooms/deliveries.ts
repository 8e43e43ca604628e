// Section 7: after our commit adding devices was accepted, the Welcome goes to them over
// to-device, then the users are invited. Kept in the room record until sent, so a restart or a
// failed request only delays them.
import { defaultAlgorithm, namesForRoomVersion } from "../../protocol/names.js";
import type { ClientData } from "../clientData.js";
import { MatrixApiError, segment, type MatrixHttp } from "../http/matrixHttp.js";
import type { SerialQueue } from "../serialQueue.js";
import { ignoreBody } from "../wire/replies.js";

export async function sendDeliveries(http: MatrixHttp, data: ClientData, queue: SerialQueue): Promise<void> {
  for (const room of data.rooms.values()) {
    if (room.deliveries.length === 0) continue;
    await queue.run(room.roomId, async () => {
      let current = data.rooms.get(room.roomId) ?? room;
      const names = current.roomVersion ? namesForRoomVersion(current.roomVersion) : undefined;
      while (current.deliveries.length > 0 && names) {
        const delivery = current.deliveries[0]!;
        if (delivery.welcome && delivery.devices.length > 0) {
          const messages: Record<string, Record<string, unknown>> = {};
          for (const device of delivery.devices) {
            (messages[device.userId] ??= {})[device.deviceId] = {
              algorithm: defaultAlgorithm(names),
              ciphertext: delivery.welcome,
            };
          }
          // The transaction ID is the commit's: a repeat after a crash is delivered once.
          await http.request(
            "PUT",
            `/sendToDevice/m.room.encrypted/${segment(`welcome-${delivery.id}`)}`,
            ignoreBody,
            { body: { messages } },
          );
        }
        for (const userId of delivery.inviteUsers) {
          try {
            await http.request("POST", `/rooms/${segment(room.roomId)}/invite`, ignoreBody, {
              body: { user_id: userId },
            });
          } catch (error) {
            // Already invited or joined: the Welcome was what they needed.
            if (!(error instanceof MatrixApiError && error.status === 403)) throw error;
          }
        }
        current = { ...current, deliveries: current.deliveries.slice(1) };
        await data.saveRoom(current);
      }
    });
  }
}
