// What this server tells other servers about its users' keys (server-server spec, "End-to-End
// Encryption"): POST /user/keys/query, POST /user/keys/claim (section 9: one key package per
// device, deleted when claimed, then the fallback; D17: either prefix), GET /user/devices. Only
// local users are answered; the same code answers local clients (keys/localKeys.ts). Any server
// may ask: an inviter's server claims key packages before the invitee's server takes part.
import { userIdServerName } from "../../../protocol/identifiers.js";
import type { ServerContext } from "../../context.js";
import { invalidParam } from "../../errors.js";
import { answeringKeyErrors } from "../../http/keyErrors.js";
import { bodyObject, isJsonObject } from "../../json.js";
import { federatedSigningKeys } from "../../keys/crossSigning.js";
import { deviceListStreamId } from "../../keys/deviceLists.js";
import { claimRequest, queryRequest } from "../../keys/keyRequests.js";
import { uploadedSignatures } from "../../keys/keyStore.js";
import { claimLocalKeys, publishedDevices, queryLocalKeys } from "../../keys/localKeys.js";
import type { FederationRouter } from "../../federationTypes.js";

export const USER_KEYS_QUERY_PATH = "/_matrix/federation/v1/user/keys/query";
export const USER_KEYS_CLAIM_PATH = "/_matrix/federation/v1/user/keys/claim";
export const USER_DEVICES_PATH = "/_matrix/federation/v1/user/devices";

export function userKeysRoutes(ctx: ServerContext) {
  return (router: FederationRouter): void => {
    router("POST", USER_KEYS_QUERY_PATH, async (request) => {
      const wanted = await answeringKeyErrors(async () => queryRequest(bodyObject(request.body)));
      const { device_keys, master_keys, self_signing_keys } = await queryLocalKeys(ctx, undefined, wanted);
      return { device_keys, master_keys, self_signing_keys };
    });

    router("POST", USER_KEYS_CLAIM_PATH, async (request) => {
      const wanted = await answeringKeyErrors(async () => claimRequest(bodyObject(request.body)));
      return { one_time_keys: await claimLocalKeys(ctx, wanted) };
    });

    router("GET", `${USER_DEVICES_PATH}/:userId`, async (request) => {
      const userId = isJsonObject(request.params) ? request.params.userId : undefined;
      if (typeof userId !== "string") throw invalidParam("The path needs a user ID");
      if (userIdServerName(userId) !== ctx.config.serverName) {
        throw invalidParam(`${userId} is not a user of ${ctx.config.serverName}`);
      }
      // The stream_id is read first: the devices are then at least as new as it says, and a
      // later m.device_list_update naming it in prev_id applies on top of them.
      const streamId = await deviceListStreamId(ctx.db, userId);
      const devices = await publishedDevices(
        ctx.db,
        userId,
        await uploadedSignatures(ctx.db, userId, undefined),
      );
      return {
        user_id: userId,
        stream_id: streamId,
        devices: devices.map((device) => ({ device_id: device.deviceId, keys: device.keys })),
        ...(await federatedSigningKeys(ctx.db, userId)),
      };
    });
  };
}
