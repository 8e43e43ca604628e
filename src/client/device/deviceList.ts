// Our user's devices as the homeserver lists them, each with its verification level (section 3)
// or "no MLS keys" when it has no valid section 9 device keys.
import type { MatrixHttp } from "../http/matrixHttp.js";
import type { ClientStore } from "../store/clientStore.js";
import { decodeDevices } from "../wire/replies.js";
import { queryUserKeys } from "./keysQuery.js";
import { deviceVerificationLevels } from "./verification.js";

export interface DeviceSummary {
  readonly deviceId: string;
  readonly displayName?: string;
  readonly lastSeenTs?: number;
  /** This very device. */
  readonly current: boolean;
  readonly verification: string;
}

export async function listDevices(deps: {
  readonly http: MatrixHttp;
  readonly store: ClientStore;
  readonly userId: string;
  readonly deviceId: string;
}): Promise<DeviceSummary[]> {
  const devices = await deps.http.request("GET", "/devices", decodeDevices);
  const own = await queryUserKeys(deps.http, deps.userId);
  const levels = await deviceVerificationLevels({
    http: deps.http,
    store: deps.store,
    ourUserId: deps.userId,
    userId: deps.userId,
  });
  return devices.map((device) => ({
    deviceId: device.device_id,
    ...(device.display_name ? { displayName: device.display_name } : {}),
    ...(device.last_seen_ts ? { lastSeenTs: device.last_seen_ts } : {}),
    current: device.device_id === deps.deviceId,
    verification:
      levels.get(device.device_id)?.level ??
      (own.devices.has(device.device_id) ? "unverified" : "no MLS keys"),
  }));
}
