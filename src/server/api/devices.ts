// Device management. Deleting devices needs the account password again (UIA m.login.password),
// since a stolen access token alone must not be enough to lock the owner out.
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";
import { badJson, missingParam, notFound } from "../errors.js";
import { requireSession } from "../http/auth.js";
import { bodyObject, optionalObject, optionalString, type JsonObject } from "../json.js";
import { passwordUia } from "../services/accounts.js";
import {
  checkDeviceDisplayName,
  deleteDevices,
  getDevice,
  listDevices,
  renameDevice,
} from "../services/devices.js";
import { requireUia } from "../services/uia.js";

function deviceIdList(body: JsonObject): string[] {
  const devices = body.devices;
  if (devices === undefined || devices === null) throw missingParam("devices");
  if (!Array.isArray(devices) || !devices.every((d) => typeof d === "string")) {
    throw badJson("devices must be a list of device IDs");
  }
  return devices;
}

export function deviceRoutes(api: FastifyInstance, ctx: ServerContext): void {
  api.get("/devices", async (request) => {
    const { userId } = await requireSession(ctx, request);
    return { devices: await listDevices(ctx.db, userId) };
  });

  api.get<{ Params: { deviceId: string } }>("/devices/:deviceId", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const device = await getDevice(ctx.db, userId, request.params.deviceId);
    if (device === undefined) throw notFound("No such device");
    return device;
  });

  api.put<{ Params: { deviceId: string } }>("/devices/:deviceId", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const displayName = optionalString(bodyObject(request.body), "display_name");
    if (displayName !== undefined) checkDeviceDisplayName(displayName);
    const { deviceId } = request.params;
    const found =
      displayName === undefined
        ? (await getDevice(ctx.db, userId, deviceId)) !== undefined
        : await renameDevice(ctx, userId, deviceId, displayName);
    // Only application services may create devices this way (spec v1.17); there are none here.
    if (!found) throw notFound("No such device");
    return {};
  });

  api.delete<{ Params: { deviceId: string } }>("/devices/:deviceId", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const { deviceId } = request.params;
    // Only the caller's own devices exist here (another user's device ID is just unknown).
    if ((await getDevice(ctx.db, userId, deviceId)) === undefined) throw notFound("No such device");
    const auth = optionalObject(bodyObject(request.body), "auth");
    await requireUia(ctx, auth, passwordUia(ctx, userId, "delete_devices"));
    if ((await deleteDevices(ctx, userId, [deviceId])) === 0) throw notFound("No such device");
    return {};
  });

  api.post("/delete_devices", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const body = bodyObject(request.body);
    const deviceIds = deviceIdList(body);
    const auth = optionalObject(body, "auth");
    await requireUia(ctx, auth, passwordUia(ctx, userId, "delete_devices"));
    await deleteDevices(ctx, userId, deviceIds);
    return {};
  });
}
