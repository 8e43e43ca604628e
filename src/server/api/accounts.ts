// The accounts component: registration, login and logout, devices, profiles, filters, push rules.
import type { FastifyInstance } from "fastify";
import type { ServerComponent } from "../component.js";
import type { ServerContext } from "../context.js";
import { MatrixError } from "../errors.js";
import { accessToken } from "../http/app.js";
import { accountMigrations } from "../services/accounts.js";
import { touchDevice } from "../services/devices.js";
import { deviceRoutes } from "./devices.js";
import { filterRoutes } from "./filters.js";
import { loginRoutes } from "./login.js";
import { profileRoutes } from "./profile.js";
import { pushRuleRoutes } from "./pushRules.js";
import { registerRoutes, registrationTokenRoutes } from "./register.js";

/**
 * Keeps each device's last_seen_ts/last_seen_ip: after every successful authenticated client API
 * request (of any component), at most one write per device every few minutes.
 */
function trackLastSeen(api: FastifyInstance, ctx: ServerContext): void {
  api.addHook("onResponse", async (request, reply) => {
    const token = accessToken(request);
    if (token === undefined || token === "" || reply.statusCode >= 400) return;
    try {
      await touchDevice(ctx, await ctx.sessions.authenticate(token), request.ip);
    } catch (error) {
      // A token that ended with this request (logout) has no device left to touch.
      if (!(error instanceof MatrixError)) request.log.warn({ err: error }, "could not record last_seen");
    }
  });
}

export const accountsComponent: ServerComponent = {
  name: "accounts",
  migrations: accountMigrations,
  rootRoutes: registrationTokenRoutes,
  clientRoutes: (api, ctx) => {
    trackLastSeen(api, ctx);
    registerRoutes(api, ctx);
    loginRoutes(api, ctx);
    deviceRoutes(api, ctx);
    profileRoutes(api, ctx);
    filterRoutes(api, ctx);
    pushRuleRoutes(api, ctx);
  },
};
