// Password login, logout and whoami. A wrong password and an unknown user get the same 403.
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";
import { MatrixError, missingParam } from "../errors.js";
import { requireSession } from "../http/auth.js";
import {
  bodyObject,
  optionalBoolean,
  optionalObject,
  optionalString,
  requiredString,
  type JsonObject,
} from "../json.js";
import { loginWithPassword } from "../services/accounts.js";
import { loginLimits } from "../services/loginLimits.js";
import {
  checkDeviceDisplayName,
  checkDeviceId,
  deleteAllDevices,
  deleteDevices,
} from "../services/devices.js";

const PASSWORD_LOGIN = "m.login.password";
const unsupported = (message: string) => new MatrixError(400, "M_UNKNOWN", message);

/** The user a login body names: `identifier` of type m.id.user, or the deprecated `user`. */
function loginUser(body: JsonObject): string {
  const identifier = optionalObject(body, "identifier");
  if (identifier !== undefined) {
    const type = requiredString(identifier, "type");
    if (type !== "m.id.user") throw unsupported(`Identifier type ${type} is not supported; use m.id.user`);
    return requiredString(identifier, "user");
  }
  const user = optionalString(body, "user");
  if (user === undefined) throw missingParam("identifier");
  return user;
}

export function loginRoutes(api: FastifyInstance, ctx: ServerContext): void {
  api.get("/login", async () => ({ flows: [{ type: PASSWORD_LOGIN }] }));

  api.post("/login", async (request) => {
    loginLimits(ctx).attempt(request.ip);
    const body = bodyObject(request.body);
    const type = requiredString(body, "type");
    if (type !== PASSWORD_LOGIN)
      throw unsupported(`Login type ${type} is not supported; use ${PASSWORD_LOGIN}`);
    const user = loginUser(body);
    const password = requiredString(body, "password");
    const deviceId = optionalString(body, "device_id");
    const displayName = optionalString(body, "initial_device_display_name");
    optionalBoolean(body, "refresh_token"); // accepted for its type only: no refresh tokens here
    if (deviceId !== undefined) checkDeviceId(deviceId);
    if (displayName !== undefined) checkDeviceDisplayName(displayName);
    return loginWithPassword(ctx, { user, password, device: { deviceId, displayName, ip: request.ip } });
  });

  // Logging out ends the device (spec: the device and its keys are deleted with the token).
  api.post("/logout", async (request) => {
    const { userId, deviceId } = await requireSession(ctx, request);
    await deleteDevices(ctx, userId, [deviceId]);
    return {};
  });

  api.post("/logout/all", async (request) => {
    const { userId } = await requireSession(ctx, request);
    await deleteAllDevices(ctx, userId);
    return {};
  });

  api.get("/account/whoami", async (request) => {
    const { userId, deviceId } = await requireSession(ctx, request);
    return { user_id: userId, device_id: deviceId };
  });
}
