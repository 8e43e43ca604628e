// End-to-end key endpoints (client-server spec v1.11, "End-to-end encryption" and "Cross-signing"),
// with MLS key packages as one-time and fallback keys (section 9) and GET /keys/list.
import type { FastifyInstance } from "fastify";
import type { ServerComponent } from "../component.js";
import type { ServerContext } from "../context.js";
import { missingParam } from "../errors.js";
import { claimKeys, keysTimeout, queryKeys } from "../federation/edus/remoteKeys.js";
import { requireSession } from "../http/auth.js";
import { bodyObject, isJsonObject, optionalObject } from "../json.js";
import { checkPassword } from "../services/accounts.js";
import {
  checkCrossSigningUpload,
  crossSigningNeedsAuth,
  storeCrossSigningKeys,
} from "../services/crossSigning.js";
import { changedUsers } from "../services/deviceLists.js";
import { claimRequest, queryRequest } from "../services/keyRequests.js";
import { keysMigrations, listKeys, uploadKeys } from "../services/keys.js";
import { uploadSignatures } from "../services/keySignatures.js";
import type { Session } from "../auth/sessions.js";
import { requireUia, type UiaRequest } from "../services/uia.js";
import { parseToken } from "./rooms.js";

/** UIA with m.login.password for the account's own password (replacing cross-signing keys). */
function passwordUia(ctx: ServerContext, session: Session): UiaRequest {
  return {
    action: "device_signing_upload",
    userId: session.userId,
    flows: [{ stages: ["m.login.password"] }],
    check: async (auth) => {
      const identifier = auth.identifier;
      const named = isJsonObject(identifier) ? identifier.user : auth.user;
      const namesOther =
        typeof named === "string" &&
        named !== session.userId &&
        `@${named}:${ctx.config.serverName}` !== session.userId;
      const password = auth.password;
      if (
        namesOther ||
        typeof password !== "string" ||
        !(await checkPassword(ctx, session.userId, password))
      ) {
        return { errcode: "M_FORBIDDEN", message: "Invalid password" };
      }
      return undefined;
    },
  };
}

function routes(api: FastifyInstance, ctx: ServerContext): void {
  api.post("/keys/upload", async (request) => {
    const session = await requireSession(ctx, request);
    const counts = await uploadKeys(ctx, session, bodyObject(request.body));
    return { one_time_key_counts: counts };
  });

  // Section 9: the caller's device's own stored key IDs, `<algorithm>:<key_id>`, oldest first.
  api.get("/keys/list", async (request) => {
    const { userId, deviceId } = await requireSession(ctx, request);
    return listKeys(ctx.db, userId, deviceId);
  });

  // Users of other servers are asked through federation (federation/edus/remoteKeys.ts).
  api.post("/keys/query", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const body = bodyObject(request.body);
    return queryKeys(ctx, userId, queryRequest(body), keysTimeout(body.timeout));
  });

  api.post("/keys/claim", async (request) => {
    await requireSession(ctx, request);
    const body = bodyObject(request.body);
    return claimKeys(ctx, claimRequest(body), keysTimeout(body.timeout));
  });

  api.get("/keys/changes", async (request) => {
    const { userId } = await requireSession(ctx, request);
    const { from, to } = request.query as { from?: string; to?: string };
    if (from === undefined) throw missingParam("from");
    if (to === undefined) throw missingParam("to");
    return { changed: await changedUsers(ctx.db, userId, parseToken(from), parseToken(to)), left: [] };
  });

  api.post("/keys/device_signing/upload", async (request) => {
    const session = await requireSession(ctx, request);
    const body = bodyObject(request.body);
    const auth = optionalObject(body, "auth");
    const upload = await checkCrossSigningUpload(ctx, session.userId, body);
    if (await crossSigningNeedsAuth(ctx, session.userId, upload)) {
      await requireUia(ctx, auth, passwordUia(ctx, session));
    }
    await storeCrossSigningKeys(ctx, session.userId, upload);
    return {};
  });

  api.post("/keys/signatures/upload", async (request) => {
    const session = await requireSession(ctx, request);
    return { failures: await uploadSignatures(ctx, session, bodyObject(request.body)) };
  });
}

export const keysComponent: ServerComponent = {
  name: "keys",
  migrations: keysMigrations,
  clientRoutes: routes,
};
