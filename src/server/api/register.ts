// POST /register, GET /register/available and the registration token validity check. The mode is
// ctx.config.registration: "open" (UIA stage m.login.dummy), "token" (m.login.registration_token
// against ctx.config.registrationTokens; tokens have no use limit) or "closed" (403).
import type { FastifyInstance } from "fastify";
import type { ServerContext } from "../context.js";
import { MatrixError, forbidden, invalidParam, missingParam } from "../errors.js";
import { bodyObject, optionalBoolean, optionalObject, optionalString } from "../json.js";
import {
  checkNewPassword,
  checkUsername,
  isRegistrationToken,
  registerUser,
  userIdOf,
} from "../services/accounts.js";
import { checkDeviceDisplayName, checkDeviceId } from "../services/devices.js";
import { loginLimits } from "../services/loginLimits.js";
import { newChallenge, requireUia, type UiaRequest } from "../services/uia.js";

function requireRegistrationOpen(ctx: ServerContext): void {
  if (ctx.config.registration === "closed") throw forbidden("Registration is closed on this server");
}

function registrationUia(ctx: ServerContext): UiaRequest {
  if (ctx.config.registration === "token") {
    return {
      action: "register",
      flows: [{ stages: ["m.login.registration_token"] }],
      check: async (auth) =>
        typeof auth.token === "string" && isRegistrationToken(ctx, auth.token)
          ? undefined
          : { errcode: "M_UNAUTHORIZED", message: "Invalid registration token" },
    };
  }
  return { action: "register", flows: [{ stages: ["m.login.dummy"] }], check: async () => undefined };
}

/** checkUsername, limited per name: asking again and again for a taken name counts as failing. */
async function checkName(ctx: ServerContext, username: string): Promise<string> {
  const limits = loginLimits(ctx);
  const userId = userIdOf(ctx, username);
  limits.check(userId);
  try {
    return await checkUsername(ctx, username);
  } catch (error) {
    if (error instanceof MatrixError && error.errcode === "M_USER_IN_USE") limits.count(userId);
    throw error;
  }
}

export function registerRoutes(api: FastifyInstance, ctx: ServerContext): void {
  api.post("/register", async (request) => {
    const { kind = "user" } = request.query as { kind?: string };
    if (kind === "guest")
      throw new MatrixError(403, "M_GUEST_ACCESS_FORBIDDEN", "Guest accounts are not available");
    if (kind !== "user") throw invalidParam("kind must be user or guest");
    requireRegistrationOpen(ctx);
    loginLimits(ctx).attempt(request.ip);
    const body = bodyObject(request.body);
    const username = optionalString(body, "username");
    const password = optionalString(body, "password");
    const deviceId = optionalString(body, "device_id");
    const displayName = optionalString(body, "initial_device_display_name");
    const inhibitLogin = optionalBoolean(body, "inhibit_login") ?? false;
    optionalBoolean(body, "refresh_token"); // accepted for its type only: no refresh tokens here
    const auth = optionalObject(body, "auth");
    if (deviceId !== undefined) checkDeviceId(deviceId);
    if (displayName !== undefined) checkDeviceDisplayName(displayName);
    // The spec asks for name checks before UIA, so a client learns of a taken name first.
    const localpart = username === undefined ? undefined : await checkName(ctx, username);
    const uia = registrationUia(ctx);
    // A request without auth (even an empty one) only asks for the flows.
    if (auth === undefined) throw newChallenge(ctx, uia);
    if (password === undefined) throw missingParam("password");
    checkNewPassword(password);
    await requireUia(ctx, auth, uia);
    return registerUser(ctx, {
      localpart,
      password,
      inhibitLogin,
      device: { deviceId, displayName, ip: request.ip },
    });
  });

  api.get("/register/available", async (request) => {
    requireRegistrationOpen(ctx);
    const { username } = request.query as { username?: string };
    if (username === undefined || username === "") throw missingParam("username");
    await checkUsername(ctx, username);
    return { available: true };
  });
}

/** GET /_matrix/client/v1/register/m.login.registration_token/validity (v1 only, spec v1.2). */
export function registrationTokenRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get("/_matrix/client/v1/register/m.login.registration_token/validity", async (request) => {
    requireRegistrationOpen(ctx);
    const { token } = request.query as { token?: string };
    if (token === undefined) throw missingParam("token");
    return { valid: ctx.config.registration === "token" && isRegistrationToken(ctx, token) };
  });
}
