// The EDUs and key endpoints of federation (issue 5, part 5), for the transport to register:
// the key routes other servers call, and the handlers of the EDUs their transactions carry.
import type { ServerContext } from "../../context.js";
import { DIRECT_TO_DEVICE } from "../../services/toDevice.js";
import type { Edu, FederationRouter } from "../../federationTypes.js";
import { deviceListEduHandler } from "./deviceListInbound.js";
import { DEVICE_LIST_UPDATE, SIGNING_KEY_UPDATE } from "./deviceListOutbound.js";
import { toDeviceEduHandler } from "./toDevice.js";
import { userKeysRoutes } from "./userKeys.js";

/** POST /user/keys/query, POST /user/keys/claim, GET /user/devices/{userId}. */
export function keysFederationRoutes(ctx: ServerContext): (router: FederationRouter) => void {
  return userKeysRoutes(ctx);
}

/** edu_type → handler. A handler drops (and logs) an EDU it refuses; it throws only on I/O errors. */
export function eduHandlers(ctx: ServerContext): Record<string, (origin: string, edu: Edu) => Promise<void>> {
  const deviceList = deviceListEduHandler(ctx);
  return {
    [DIRECT_TO_DEVICE]: toDeviceEduHandler(ctx),
    [DEVICE_LIST_UPDATE]: deviceList,
    [SIGNING_KEY_UPDATE]: deviceList,
  };
}
